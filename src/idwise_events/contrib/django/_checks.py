"""The system checks of ``IDWISE_EVENTS`` (``manage.py check``, and before runserver or migrate).

The app registers them when Django is ready.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import django
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.utils import load_backend

from ._settings import load_config

__all__ = ["check_settings"]


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every problem of ``IDWISE_EVENTS`` as it is now (the ids are ``idwise_events.E…/W…``)."""
    config = load_config()
    return [*config.problems, *_exposed_credentials(), *_database_limits(inbox=config.inbox)]


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


def _database_limits(*, inbox: bool) -> list[checks.CheckMessage]:
    """W007: PostgreSQL without ``connect_timeout``; W008: the inbox on SQLite without its options.

    The store and the inbox bound every call once connected (``network_timeout``), but not the
    connecting, which libpq leaves unbounded; on SQLite the web side and the inbox's worker
    write from two processes, and without these options a writer may fail on the lock at once.
    """
    from .models import InboxDelivery, ReceivedEvent

    models = [ReceivedEvent, InboxDelivery] if inbox else [ReceivedEvent]
    aliases = sorted({router.db_for_write(model) or "default" for model in models})
    found: list[checks.CheckMessage] = []
    for alias in aliases:
        if alias not in connections.settings:
            continue
        database = connections.settings[alias]
        options = database.get("OPTIONS") or {}
        vendor = _vendor(str(database.get("ENGINE", "")))
        connect_timeout = str(options.get("connect_timeout", "")).strip()
        if vendor == "postgresql" and connect_timeout in ("", "0"):  # 0: libpq waits for ever
            found.append(
                checks.Warning(
                    f"DATABASES[{alias!r}] has no connect_timeout: connecting to PostgreSQL"
                    " waits without limit when the server cannot be reached (a request then"
                    " holds its worker), while each call once connected is bounded",
                    hint='Add "connect_timeout": 5 (and TCP keepalives) to its OPTIONS: see'
                    " Deployment on the Django page of the idwise-events docs.",
                    id="idwise_events.W007",
                )
            )
        if inbox and vendor == "sqlite":
            init_command = str(options.get("init_command", ""))
            wal = re.search(r"journal_mode\s*=\s*'?wal", init_command, re.IGNORECASE) is not None
            immediate = str(options.get("transaction_mode", "")).upper() == "IMMEDIATE"
            if not (wal and immediate):
                found.append(
                    checks.Warning(
                        f"DATABASES[{alias!r}] is SQLite without"
                        ' "init_command": "PRAGMA journal_mode=WAL;" and "transaction_mode":'
                        ' "IMMEDIATE" in its OPTIONS: with the inbox the web side and the'
                        ' worker write at once, and a writer can fail with "database is'
                        ' locked" (the delivery is then retried, its handlers run again)',
                        hint="Add both (and a timeout) to its OPTIONS: see Deployment on the"
                        " Django page of the idwise-events docs, or use PostgreSQL.",
                        id="idwise_events.W008",
                    )
                )
    return found


def _vendor(engine: str) -> str:
    """The backend's own name for its database (PostGIS's is "postgresql" too).

    From the engine's name where the backend cannot load here (PostGIS without GDAL): the
    check must not fail where Django's own would say what is missing.
    """
    try:
        vendor: str = load_backend(engine).DatabaseWrapper.vendor
    except (ImportError, ImproperlyConfigured):
        lowered = engine.lower()
        return "postgresql" if "postg" in lowered else "sqlite" if "sqlite" in lowered else ""
    return vendor
