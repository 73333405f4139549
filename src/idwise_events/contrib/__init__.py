"""Integrations that make idwise_events part of an application framework (each needs its extra)."""
