"""The system checks of ``IDWISE_EVENTS`` (``manage.py check``, and before runserver or migrate).

The app registers them when Django is ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django
from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from ._settings import load_config

__all__ = ["check_settings"]


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every problem of ``IDWISE_EVENTS`` as it is now (the ids are ``idwise_events.E…/W…``)."""
    return [*load_config().problems, *_exposed_credentials()]


def _exposed_credentials() -> list[checks.CheckMessage]:
    """W005: before Django 5.2, debug pages and error e-mails show BASIC_AUTH and HEADER_AUTH.

    Django hides settings whose names look secret; ``AUTH`` joined that list in 5.2 only.
    """
    config = getattr(settings, "IDWISE_EVENTS", None)
    if django.VERSION >= (5, 2) or not isinstance(config, dict):
        return []
    shown = sorted(key for key in ("BASIC_AUTH", "HEADER_AUTH") if key in config)
    if not shown:
        return []
    return [
        checks.Warning(
            f"Django {django.get_version()} shows {' and '.join(shown)} of IDWISE_EVENTS in"
            " clear on its debug error pages and error e-mails",
            hint="Upgrade to Django 5.2 or newer, or give the credentials as environment"
            ' variables ("AUTH": "env").',
            id="idwise_events.W005",
        )
    ]
