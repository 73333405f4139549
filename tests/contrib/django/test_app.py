"""The app as Django loads it: imports that read no setting, one NoAuth warning, the settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from idwise_events import BearerAuth, FinishedJourney, NoAuth
from idwise_events.contrib.django import dispatcher
from idwise_events.testing import auth_headers, make_event

from .conftest import HEADERS, body_of, post

ROOT = Path(__file__).parents[3]
# Every module of the app but those that define or use its model (models, admin, the purge
# command): Django only allows a model once its app registry is ready (from INSTALLED_APPS).
MODULES = [
    "idwise_events.contrib.django",
    "idwise_events.contrib.django._checks",
    "idwise_events.contrib.django._database",
    "idwise_events.contrib.django._settings",
    "idwise_events.contrib.django._wiring",
    "idwise_events.contrib.django.apps",
    "idwise_events.contrib.django.inbox",
    "idwise_events.contrib.django.management.commands.idwise_events_worker",
    "idwise_events.contrib.django.migrations.0001_initial",
    "idwise_events.contrib.django.migrations.0002_inboxdelivery",
    "idwise_events.contrib.django.signals",
    "idwise_events.contrib.django.store",
    "idwise_events.contrib.django.urls",
    "idwise_events.contrib.django.views",
]
NEEDS_THE_APP_REGISTRY = [
    "idwise_events.contrib.django.models",
    "idwise_events.contrib.django.admin",
    "idwise_events.contrib.django.management.commands.idwise_events_purge",
]
NO_AUTH_LOG = "NoAuth: this webhook endpoint is unauthenticated"


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter, without the test session's DJANGO_SETTINGS_MODULE."""
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environ, **env},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_module_of_the_app_reads_no_setting(module: str) -> None:
    """Outside a configured project (no DJANGO_SETTINGS_MODULE) each module imports."""
    result = python(f"import importlib; importlib.import_module({module!r})")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", NEEDS_THE_APP_REGISTRY)
def test_models_and_admin_need_a_configured_project(module: str) -> None:
    """Django refuses a model class before its settings say which apps are installed."""
    result = python(f"import importlib; importlib.import_module({module!r})")

    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stderr


def manage(*args: str, silenced: str = "") -> subprocess.CompletedProcess[str]:
    """``manage.py`` of the test project with DEBUG on and no authentication configured."""
    code = "import sys; from django.core.management import execute_from_command_line; "
    code += f"execute_from_command_line(['manage.py', *{list(args)!r}])"
    return python(
        code,
        DJANGO_SETTINGS_MODULE="tests.django_project.settings_unauthenticated",
        SILENCED_SYSTEM_CHECKS=silenced,
    )


def test_no_authentication_is_said_once_by_the_check_alone() -> None:
    """``check`` reports W001 once; NoAuth's own warning is not logged on top of it."""
    result = manage("check")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("idwise_events.W001") == 1
    assert NO_AUTH_LOG not in output


def test_commands_that_run_no_check_say_nothing_of_it() -> None:
    """A command without system checks (diffsettings) logs no NoAuth warning."""
    result = manage("diffsettings")

    assert result.returncode == 0, result.stderr
    assert NO_AUTH_LOG not in result.stdout + result.stderr


def test_silencing_w001_silences_it() -> None:
    """SILENCED_SYSTEM_CHECKS = ["idwise_events.W001"] leaves nothing about it."""
    result = manage("check", silenced="idwise_events.W001")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "W001" not in output
    assert NO_AUTH_LOG not in output


@pytest.mark.django_db
def test_the_endpoint_follows_override_settings(client: Client, settings: Any) -> None:
    """Changed credentials apply at once; handlers registered at startup still run."""
    event = make_event(FinishedJourney, journey_id="journey-app-1")
    settings.IDWISE_EVENTS = {"BEARER_TOKEN": "token-of-this-test"}

    refused = post(client, body_of(event))  # the project's token no longer passes
    new_headers = {
        "Content-Type": "application/json",
        **auth_headers(BearerAuth("token-of-this-test")),
    }
    accepted = post(client, body_of(event), new_headers)

    assert (refused, accepted) == ((401, "unauthorized"), (200, "processed"))
    assert HEADERS["Authorization"] != new_headers["Authorization"]


def test_debug_changes_are_followed_too(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    """No authentication with DEBUG on: the project's verifier accepts (silently, W001 says it)."""
    settings.DEBUG = True
    settings.IDWISE_EVENTS = {}

    assert "NoAuth()" in repr(dispatcher.verifier)
    assert isinstance(NoAuth(), NoAuth)  # direct users still get the warning
    assert [record.getMessage()[:6] for record in caplog.records] == ["NoAuth"]


def test_the_snippets_of_the_django_page_can_be_pasted_into_a_project() -> None:
    """The parts of the test project the docs show name nothing of the test suite."""
    page = (ROOT / "docs/django.md").read_text()
    sections = re.findall(r"<!-- code: ([^ :]+):([^ ]+) -->", page)

    assert ("tests/django_project/settings.py", "installed-apps") in sections
    for path, section in sections:
        text = (ROOT / path).read_text()
        snippet = text.split(f"[start:{section}]")[1].split(f"[end:{section}]")[0]
        assert "tests." not in snippet, (path, section)
        assert "django_project" not in snippet, (path, section)
