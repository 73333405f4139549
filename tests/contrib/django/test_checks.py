"""IDWISE_EVENTS: each way to configure it, and each mistake as a clear system check message."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import django
import pytest
from django.core.management import call_command
from django.db import connections
from django.views.debug import SafeExceptionReporterFilter

from idwise_events import (
    AllOf,
    BasicAuth,
    BearerAuth,
    FinishedJourney,
    HeaderAuth,
    IpAllowlist,
    NoAuth,
    Outcome,
    VerificationError,
    Verifier,
)
from idwise_events.contrib.django._checks import check_settings
from idwise_events.contrib.django._settings import load_config
from idwise_events.testing import auth_headers, build_request, make_event

from ...conftest import CANARY

EVENT = make_event(FinishedJourney)


def ids(settings: Any, value: object) -> list[str]:
    """The check ids reported for ``IDWISE_EVENTS = value``."""
    settings.IDWISE_EVENTS = value
    return [message.id or "" for message in check_settings()]


def accepts(verifier: Verifier | None, headers: dict[str, str], client_ip: str) -> bool:
    assert verifier is not None
    try:
        verifier.verify(build_request(EVENT, headers=headers, client_ip=client_ip))
    except VerificationError:
        return False
    return True


def test_the_test_project_passes_every_check() -> None:
    """Its settings report nothing, and manage.py check is silent about them."""
    output = StringIO()

    call_command("check", stdout=output)

    assert check_settings() == []
    assert "idwise_events" not in output.getvalue()


@pytest.mark.parametrize(
    ("setting", "verifier_type"),
    [
        ({"BEARER_TOKEN": "tok-1"}, BearerAuth),
        ({"BEARER_TOKEN": ["tok-new", "tok-old"]}, BearerAuth),
        ({"BASIC_AUTH": ("idwise", "pw-1")}, BasicAuth),
        ({"BASIC_AUTH": [("idwise", "pw-new"), ("idwise", "pw-old")]}, BasicAuth),
        ({"HEADER_AUTH": {"X-Api-Key": "key-1"}}, HeaderAuth),
        ({"HEADER_AUTH": {"X-Api-Key": ["key-new", "key-old"]}}, HeaderAuth),
        ({"IP_ALLOWLIST": ["203.0.113.0/24"], "AUTH": "none"}, IpAllowlist),
        ({"BEARER_TOKEN": "tok-1", "HEADER_AUTH": {"X-Tenant": "acme"}}, AllOf),
        ({"BEARER_TOKEN": "tok-1", "IP_ALLOWLIST": ["203.0.113.0/24"]}, AllOf),
        ({"VERIFIER": BearerAuth("tok-1") & IpAllowlist(["203.0.113.7"])}, AllOf),
    ],
    ids=[
        "bearer",
        "bearer-rotation",
        "basic",
        "basic-rotation",
        "headers",
        "headers-rotation",
        "allowlist-only",
        "bearer-and-headers",
        "bearer-and-allowlist",
        "verifier",
    ],
)
def test_each_method_builds_the_verifier_the_portal_needs(
    settings: Any, setting: dict[str, Any], verifier_type: type[Any]
) -> None:
    """What IDWise sends for the settings passes, a guessed token or another address fails."""
    settings.IDWISE_EVENTS = setting
    config = load_config()

    assert isinstance(config.verifier, verifier_type)
    assert [message.id for message in config.problems] == (
        ["idwise_events.W002"] if setting.get("AUTH") == "none" else []
    )
    right = auth_headers(config.verifier)
    assert accepts(config.verifier, right, "203.0.113.7")
    guessed = {name: "guessed" for name in right}
    assert not right or not accepts(config.verifier, guessed, "203.0.113.7")
    if "203.0.113" in repr(setting):
        assert not accepts(config.verifier, right, "198.51.100.1")


def test_the_old_credential_still_passes_while_rotating(settings: Any) -> None:
    """Every listed token is accepted, so the portal and the server can switch at any time."""
    settings.IDWISE_EVENTS = {"BEARER_TOKEN": ["tok-new", "tok-old"]}
    verifier = load_config().verifier

    assert accepts(verifier, {"Authorization": "Bearer tok-old"}, "127.0.0.1")


def test_auth_env_reads_the_idwise_webhook_variables(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUTH='env' is verifier_from_env(): the IDWISE_WEBHOOK_* variables decide."""
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "from-env")
    settings.IDWISE_EVENTS = {"AUTH": "env"}
    config = load_config()

    assert config.problems == ()
    assert accepts(config.verifier, {"Authorization": "Bearer from-env"}, "127.0.0.1")


def test_auth_env_with_a_misspelt_variable_is_a_warning(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt allowlist variable beside the token: W006 names it, the token still works."""
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "from-env")
    monkeypatch.setenv("IDWISE_WEBHOOK_IP_ALLOWLST", "203.0.113.7")
    settings.IDWISE_EVENTS = {"AUTH": "env"}
    config = load_config()

    [warning] = config.problems
    assert warning.id == "idwise_events.W006"
    assert "IDWISE_WEBHOOK_IP_ALLOWLST (did you mean IDWISE_WEBHOOK_IP_ALLOWLIST?)" in warning.msg
    assert not warning.is_serious()
    assert accepts(config.verifier, {"Authorization": "Bearer from-env"}, "127.0.0.1")


def test_auth_env_without_variables_is_an_error_naming_them(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUTH='env' with no IDWISE_WEBHOOK_* variable set fails the checks, saying what to set."""
    for name in ("BEARER_TOKEN", "BASIC_USERNAME", "BASIC_PASSWORD", "HEADERS", "IP_ALLOWLIST"):
        monkeypatch.delenv(f"IDWISE_WEBHOOK_{name}", raising=False)
    monkeypatch.delenv("IDWISE_WEBHOOK_AUTH", raising=False)
    settings.IDWISE_EVENTS = {"AUTH": "env"}

    [error] = check_settings()

    assert error.id == "idwise_events.E004"
    assert "IDWISE_WEBHOOK_" in error.msg


def test_no_authentication_is_an_error_outside_debug(settings: Any) -> None:
    """Nothing configured and DEBUG off: E003, and no verifier at all (the view refuses)."""
    settings.DEBUG = False
    settings.IDWISE_EVENTS = {}

    [error] = check_settings()

    assert error.id == "idwise_events.E003"
    assert error.is_serious()
    assert "no authentication is configured" in error.msg
    assert load_config().verifier is None


def test_no_authentication_is_a_warning_in_debug(settings: Any) -> None:
    """Nothing configured with DEBUG on: W001, and the endpoint accepts anything meanwhile."""
    settings.DEBUG = True
    settings.IDWISE_EVENTS = {}

    assert ids(settings, {}) == ["idwise_events.W001"]
    assert isinstance(load_config().verifier, NoAuth)


def test_auth_none_is_allowed_on_purpose_with_a_warning(settings: Any) -> None:
    """AUTH='none' gives NoAuth and W002, which a project may silence."""
    assert ids(settings, {"AUTH": "none"}) == ["idwise_events.W002"]
    assert isinstance(load_config().verifier, NoAuth)


@pytest.mark.parametrize(
    ("value", "expected", "fragment"),
    [
        ("token", "idwise_events.E001", "must be a dict"),
        ({"BEARER_TOKEN": "t", "LEASES": 5}, "idwise_events.E002", "LEASES"),
        ({"AUTH": "basic"}, "idwise_events.E004", "AUTH may only be"),
        ({"AUTH": "none", "BEARER_TOKEN": "t"}, "idwise_events.E004", "contradicts"),
        ({"AUTH": "env", "BEARER_TOKEN": "t"}, "idwise_events.E004", "remove ['BEARER_TOKEN']"),
        ({"VERIFIER": "t"}, "idwise_events.E004", "must be a verifier"),
        ({"VERIFIER": NoAuth(), "BEARER_TOKEN": "t"}, "idwise_events.E004", "replaces"),
        ({"BEARER_TOKEN": 42}, "idwise_events.E004", "BEARER_TOKEN must be"),
        ({"BEARER_TOKEN": ""}, "idwise_events.E004", "BEARER_TOKEN:"),
        ({"BASIC_AUTH": "user:pw"}, "idwise_events.E004", "BASIC_AUTH must be"),
        ({"HEADER_AUTH": ["X-Api-Key"]}, "idwise_events.E004", "HEADER_AUTH must be"),
        ({"IP_ALLOWLIST": "203.0.113.0/24"}, "idwise_events.E004", "IP_ALLOWLIST must be"),
        ({"IP_ALLOWLIST": ["not-a-network"]}, "idwise_events.E004", "IP_ALLOWLIST:"),
        ({"BEARER_TOKEN": "t", "TRUSTED_PROXIES": 1}, "idwise_events.E004", "needs IP_ALLOWLIST"),
        ({"BEARER_TOKEN": "t", "LEASE": 300}, "idwise_events.E005", "timedelta"),
        ({"BEARER_TOKEN": "t", "LEASE": timedelta(0)}, "idwise_events.E005", "more than zero"),
        ({"BEARER_TOKEN": "t", "LEASE": timedelta(days=300)}, "idwise_events.E005", "at most"),
        ({"BEARER_TOKEN": "t", "RETENTION": 30}, "idwise_events.E006", "timedelta"),
        ({"BEARER_TOKEN": "t", "MAX_BODY_BYTES": 0}, "idwise_events.E007", "number of bytes"),
        ({"BEARER_TOKEN": "t", "STATUSES": {"nope": 200}}, "idwise_events.E008", "nope"),
        ({"BEARER_TOKEN": "t", "STATUSES": {Outcome.INVALID: 99}}, "idwise_events.E008", "99"),
        ({"BEARER_TOKEN": "t", "ASYNC": "yes"}, "idwise_events.E009", "True or False"),
        ({"BEARER_TOKEN": "t", "RETENTION": timedelta(hours=1)}, "idwise_events.W004", "1:00"),
    ],
)
def test_each_mistake_is_one_clear_message(
    settings: Any, value: object, expected: str, fragment: str
) -> None:
    """The message has the expected id and says what is wrong."""
    settings.IDWISE_EVENTS = value

    [message] = check_settings()

    assert message.id == expected
    assert fragment in message.msg
    assert message.is_serious() == expected.startswith("idwise_events.E")


def test_a_limit_over_djangos_upload_size_is_no_mistake(settings: Any) -> None:
    """The view reads the body up to MAX_BODY_BYTES, whatever DATA_UPLOAD_MAX_MEMORY_SIZE."""
    settings.IDWISE_EVENTS = {"BEARER_TOKEN": "t", "MAX_BODY_BYTES": 10**9}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    assert check_settings() == []
    assert load_config().max_body_bytes == 10**9


def test_statuses_may_name_outcomes_by_value(settings: Any) -> None:
    """STATUSES takes Outcome members or their values."""
    settings.IDWISE_EVENTS = {"BEARER_TOKEN": "t", "STATUSES": {"invalid": 200}}

    assert load_config().statuses == {Outcome.INVALID: 200}


@pytest.mark.parametrize(
    "setting",
    [
        {"BEARER_TOKEN": f"{CANARY} with spaces"},
        {"BASIC_AUTH": ("idwise", CANARY), "HEADER_AUTH": {"X-Key": f"{CANARY}\n"}},
        {"HEADER_AUTH": {"X-Custom": f"{CANARY}\x00"}},
    ],
    ids=["bearer", "basic-and-headers", "headers"],
)
def test_no_message_and_no_error_page_shows_a_credential(
    settings: Any, setting: dict[str, Any]
) -> None:
    """Check messages never echo a secret, and Django's error pages hide the credential keys."""
    settings.IDWISE_EVENTS = setting

    messages = check_settings()
    shown = SafeExceptionReporterFilter().get_safe_settings()["IDWISE_EVENTS"]

    assert messages
    assert all(CANARY not in f"{message.msg} {message.hint}" for message in messages)
    assert CANARY not in repr(shown)


@pytest.mark.parametrize(
    ("version", "setting", "warned"),
    [
        ((4, 2, 30, "final", 0), {"BASIC_AUTH": ("idwise", CANARY)}, "BASIC_AUTH"),
        ((5, 1, 9, "final", 0), {"HEADER_AUTH": {"X-Custom": CANARY}}, "HEADER_AUTH"),
        ((4, 2, 30, "final", 0), {"BEARER_TOKEN": CANARY}, None),  # TOKEN was always hidden
        ((5, 2, 0, "final", 0), {"HEADER_AUTH": {"X-Custom": CANARY}}, None),
    ],
)
def test_a_django_that_would_show_the_credentials_is_warned_of(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    version: tuple[Any, ...],
    setting: dict[str, Any],
    warned: str | None,
) -> None:
    """W005 before Django 5.2 (whose error pages hide *AUTH* settings), for the keys concerned."""
    monkeypatch.setattr(django, "VERSION", version)
    settings.IDWISE_EVENTS = setting

    found = [message for message in check_settings() if message.id == "idwise_events.W005"]

    if warned is None:
        assert found == []
    else:
        [message] = found
        assert warned in message.msg
        assert CANARY not in f"{message.msg} {message.hint}"


def test_the_project_dispatcher_uses_the_settings(settings: Any) -> None:
    """Lease, body limit and statuses reach the dispatcher built from the settings."""
    from idwise_events.contrib.django._wiring import build_dispatcher

    settings.IDWISE_EVENTS = {
        "BEARER_TOKEN": "t",
        "LEASE": timedelta(minutes=2),
        "MAX_BODY_BYTES": 2048,
        "STATUSES": {Outcome.INVALID: 200},
    }

    built = build_dispatcher(load_config())

    assert (built.lease, built.max_body_bytes) == (timedelta(minutes=2), 2048)
    assert built.statuses[Outcome.INVALID] == 200


WAL = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}


@pytest.mark.parametrize(
    ("engine", "options", "inbox", "expected"),
    [
        ("django.db.backends.postgresql", {}, False, ["idwise_events.W007"]),
        ("django.db.backends.postgresql", {"connect_timeout": 5}, True, []),
        ("django.db.backends.postgresql", {"connect_timeout": 0}, False, ["idwise_events.W007"]),
        ("django.contrib.gis.db.backends.postgis", {}, False, ["idwise_events.W007"]),
        ("django.db.backends.sqlite3", {}, False, []),  # the store alone: one writer's choice
        ("django.db.backends.sqlite3", {}, True, ["idwise_events.W008"]),
        (
            "django.db.backends.sqlite3",
            {"transaction_mode": "IMMEDIATE"},
            True,
            ["idwise_events.W008"],
        ),
        ("django.db.backends.sqlite3", WAL, True, []),
        (
            "django.db.backends.sqlite3",
            {"init_command": "PRAGMA journal_mode = WAL", "transaction_mode": "IMMEDIATE"},
            True,
            [],
        ),
    ],
    ids=[
        "pg-no-timeout",
        "pg-timeout",
        "pg-timeout-0",
        "postgis",
        "sqlite-store",
        "sqlite-inbox",
        "sqlite-no-wal",
        "sqlite-ok",
        "sqlite-ok-spaced",
    ],
)
def test_a_database_whose_waits_the_app_cannot_bound_is_warned_of(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
    options: dict[str, object],
    inbox: bool,
    expected: list[str],
) -> None:
    """W007: PostgreSQL without connect_timeout; W008: the inbox on SQLite without its options.

    Connecting to PostgreSQL without connect_timeout waits for ever (each call once connected
    is bounded); with the inbox on SQLite the web side and the worker write at once, and
    without WAL and IMMEDIATE transactions a writer may fail on the lock.
    """
    default = {**connections.settings["default"], "ENGINE": engine, "OPTIONS": options}
    monkeypatch.setitem(connections.settings, "default", default)

    found = ids(settings, {"BEARER_TOKEN": "t" * 32, "INBOX": inbox})

    assert found == expected
