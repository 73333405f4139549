"""The app's configuration: its label."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["IdwiseEventsConfig"]


class IdwiseEventsConfig(AppConfig):
    """``idwise_events.contrib.django``, labelled ``idwise_events``."""

    name = "idwise_events.contrib.django"
    label = "idwise_events"
    verbose_name = "IDWise events"
