"""The app's configuration: its label, its system checks, and the discovery of ``webhooks.py``."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

__all__ = ["IdwiseEventsConfig"]


class IdwiseEventsConfig(AppConfig):
    """``idwise_events.contrib.django``, labelled ``idwise_events``.

    When Django is ready it registers the checks of ``IDWISE_EVENTS`` and imports the
    ``webhooks`` module of every installed app that has one, as the admin imports ``admin.py``,
    so that their handlers are registered on the
    [`dispatcher`][idwise_events.contrib.django.dispatcher] before the first delivery.
    """

    name = "idwise_events.contrib.django"
    label = "idwise_events"
    verbose_name = "IDWise events"

    def ready(self) -> None:
        """Register the system checks; import each installed app's ``webhooks`` module."""
        from . import _checks  # noqa: F401 -- importing it registers the checks

        autodiscover_modules("webhooks")
