"""Tests of the framework integrations in idwise_events.contrib."""
