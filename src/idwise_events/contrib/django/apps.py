"""The app's configuration: its label, its system checks, and the discovery of ``webhooks.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed
from django.utils.module_loading import autodiscover_modules

if TYPE_CHECKING:  # django-stubs' name for a text or a lazily translated one
    from django.utils.functional import _StrOrPromise

__all__ = ["IdwiseEventsConfig"]


class IdwiseEventsConfig(AppConfig):
    """``idwise_events.contrib.django``, labelled ``idwise_events``.

    When Django is ready it registers the checks of ``IDWISE_EVENTS`` and imports the
    ``webhooks`` module of every installed app that has one, as the admin imports ``admin.py``,
    so that their handlers are registered on the
    [`dispatcher`][idwise_events.contrib.django.dispatcher] before the first delivery.
    """

    name: str = "idwise_events.contrib.django"
    label: str = "idwise_events"
    verbose_name: _StrOrPromise = "IDWise events"

    def ready(self) -> None:
        """Register the checks, follow changes of the settings, import ``webhooks`` modules."""
        from ._checks import check_settings
        from ._settings import forget_project_config

        checks.register(check_settings, "idwise_events")
        setting_changed.connect(forget_project_config, dispatch_uid="idwise_events_settings")
        autodiscover_modules("webhooks")
