"""The system checks of ``IDWISE_EVENTS`` (``manage.py check``, and before runserver or migrate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks

from ._settings import load_config

__all__ = ["check_settings"]


@checks.register("idwise_events")
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every problem of ``IDWISE_EVENTS`` as it is now (the ids are ``idwise_events.E…/W…``)."""
    return list(load_config().problems)
