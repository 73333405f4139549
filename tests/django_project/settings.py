"""Settings of the test suite's Django project: pytest-django loads them for the whole session.

Two databases: ``default`` is SQLite (a file, so that threads share it), ``postgresql`` the
session's throwaway PostgreSQL server, pointed at by tests/conftest.py when a test needs it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

TOKEN = "django-project-token"  # noqa: S105 -- made up for the test project
"""The Bearer token the project's endpoint accepts."""

SECRET_KEY = "tests-only-not-secret"  # noqa: S105 -- a throwaway test project
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.django_project.urls"
STATIC_URL = "/static/"  # the admin's, and the live server's static files handler, need one

# --8<-- [start:installed-apps]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "idwise_events.contrib.django",
]
# --8<-- [end:installed-apps]
INSTALLED_APPS += ["tests.django_project.verifications"]  # the project's own app

IDWISE_EVENTS: dict[str, Any]  # strings here; settings_inbox.py adds "INBOX": True
# --8<-- [start:idwise-events]
IDWISE_EVENTS = {
    # The Bearer Token entered in the IDWise portal. In production, read it from the
    # environment (os.environ["IDWISE_WEBHOOK_BEARER_TOKEN"]) or a vault, or use "AUTH": "env".
    "BEARER_TOKEN": TOKEN,
}
# --8<-- [end:idwise-events]

# The admin tests log users in: a deliberately cheap hasher, for test users only.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# One file per pytest process, so that several runs on one machine do not share it; a process
# the tests start (a worker) is told the file of the tests' database.
_SQLITE_FILE = os.environ.get("IDWISE_EVENTS_TEST_SQLITE") or str(
    Path(tempfile.gettempdir()) / f"idwise-events-django-{os.getpid()}.sqlite3"
)
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _SQLITE_FILE,
        "TEST": {"NAME": _SQLITE_FILE},
        # --8<-- [start:sqlite-options]
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL;",  # readers never wait for the writer
            "transaction_mode": "IMMEDIATE",  # a transaction waits for the write lock up front
            "timeout": 20,  # seconds a writer waits for another one
        },
        # --8<-- [end:sqlite-options]
    },
    "postgresql": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "",  # the session's server, once started (tests/conftest.py)
        "TEST": {"NAME": "test_idwise_events_django"},
        # --8<-- [start:postgresql-options]
        "OPTIONS": {
            "connect_timeout": 5,  # seconds to reach the server (libpq waits for ever otherwise)
            "keepalives": 1,  # let the kernel drop connections whose peer vanished
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 10000,  # milliseconds unacknowledged data may wait
        },
        # --8<-- [end:postgresql-options]
    },
}
