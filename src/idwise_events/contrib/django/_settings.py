"""The ``IDWISE_EVENTS`` setting, read and validated, its problems as system check messages."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core import checks

from ..._auth import Verifier
from ..._auth_config import AuthConfig, AuthNames, build_verifier
from ..._auth_env import read_env, unread_variables
from ..._outcomes import Outcome, responses_for
from ..._parse import DEFAULT_MAX_BYTES
from ..._store import DEFAULT_RETENTION, check_lease

__all__ = ["SETTING", "Config", "forget_project_config", "load_config", "project_config"]

SETTING = "IDWISE_EVENTS"
"""The name of the Django setting."""

DEFAULT_LEASE = timedelta(minutes=5)

# The keys that hold a credential are named so that Django's error pages hide their values
# (AUTH, TOKEN, KEY, PASS... in a setting's name; see SafeExceptionReporterFilter).
_CREDENTIAL_KEYS = ("BASIC_AUTH", "BEARER_TOKEN", "HEADER_AUTH")
_KNOWN_KEYS = (
    "AUTH",
    "VERIFIER",
    *_CREDENTIAL_KEYS,
    "IP_ALLOWLIST",
    "TRUSTED_PROXIES",
    "LEASE",
    "RETENTION",
    "MAX_BODY_BYTES",
    "STATUSES",
    "ASYNC",
    "INBOX",
)
_SHORT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class Config:
    """What ``IDWISE_EVENTS`` asks for; invalid values are replaced by defaults and reported."""

    verifier: Verifier | None
    """None when the authentication settings are missing or invalid (see ``problems``)."""
    lease: timedelta = DEFAULT_LEASE
    retention: timedelta = DEFAULT_RETENTION
    max_body_bytes: int = DEFAULT_MAX_BYTES
    statuses: Mapping[Outcome, int] = field(default_factory=lambda: MappingProxyType({}))
    asynchronous: bool = False
    inbox: bool = False
    """Whether deliveries go to a `DjangoInbox`, processed later by a worker."""
    problems: tuple[checks.CheckMessage, ...] = ()

    @property
    def errors(self) -> list[checks.CheckMessage]:
        """The problems that make the endpoint refuse to work (the checks' errors)."""
        return [problem for problem in self.problems if problem.is_serious()]


@functools.cache
def project_config() -> Config:
    """The settings as read once, until they change: what the project's endpoint works by."""
    return load_config()


def forget_project_config(*, setting: str, **kwargs: Any) -> None:
    """Read the settings again after ``override_settings`` changes them (Django's signal).

    ``DEBUG`` counts too: with it on, no authentication is a warning rather than an error.
    """
    if setting in (SETTING, "DEBUG"):
        project_config.cache_clear()


def load_config(*, verifier: bool = True) -> Config:
    """Read ``settings.IDWISE_EVENTS`` as it is now; never raises, reports every problem.

    With ``verifier=False`` the authentication keys are not read (nor reported on).
    """
    raw: object = getattr(settings, SETTING, {})
    if not isinstance(raw, Mapping):
        error = _error(
            1,
            f"{SETTING} must be a dict, not {type(raw).__name__}",
            hint=f'{SETTING} = {{"AUTH": "env"}} reads the IDWISE_WEBHOOK_* variables.',
        )
        return Config(verifier=None, problems=(error,))
    conf: Mapping[str, Any] = raw
    problems: list[checks.CheckMessage] = []
    unknown = sorted(str(key) for key in conf if key not in _KNOWN_KEYS)
    if unknown:
        problems.append(
            _error(
                2,
                f"{SETTING} has unknown keys: {', '.join(unknown)}",
                hint=f"The keys are {', '.join(_KNOWN_KEYS)}.",
            )
        )
    built = _verifier(conf, problems) if verifier else None
    lease = _lease(conf, problems)
    retention = _retention(conf, problems)
    max_body_bytes = _max_body_bytes(conf, problems)
    statuses = _statuses(conf, problems)
    asynchronous = conf.get("ASYNC", False)
    if not isinstance(asynchronous, bool):
        problems.append(
            _error(9, f"{SETTING}['ASYNC'] must be True or False, not {asynchronous!r}")
        )
        asynchronous = False
    inbox = conf.get("INBOX", False)
    if not isinstance(inbox, bool):
        problems.append(
            _error(
                10,
                f"{SETTING}['INBOX'] must be True or False, not {inbox!r}",
                hint="True stores each delivery in the database and answers at once; a worker"
                " (manage.py idwise_events_worker, Celery, the PostgreSQL queue) runs the"
                " handlers.",
            )
        )
        inbox = False
    return Config(
        verifier=built,
        lease=lease,
        retention=retention,
        max_body_bytes=max_body_bytes,
        statuses=statuses,
        asynchronous=asynchronous,
        inbox=inbox,
        problems=tuple(problems),
    )


def _verifier(conf: Mapping[str, Any], problems: list[checks.CheckMessage]) -> Verifier | None:
    """The verifier the settings describe, or None (and a problem) if there is none.

    A `NoAuth` built here logs nothing: the system checks say it (W001, W002), once.
    """
    auth = conf.get("AUTH")
    if auth is not None and auth not in ("env", "none"):
        problems.append(_auth_error("AUTH may only be 'env' or 'none'"))
        return None
    # VERIFIER, and AUTH='env', each replace every other authentication key.
    sole, reads = (
        ("VERIFIER", "replaces the other authentication keys")
        if "VERIFIER" in conf
        else ("AUTH", "reads the IDWISE_WEBHOOK_* environment variables")
    )
    if sole == "VERIFIER" or auth == "env":
        extra = [key for key in _AUTH_KEYS if key in conf and key != sole]
        if extra:
            shown = "AUTH='env'" if sole == "AUTH" else sole
            problems.append(_auth_error(f"{shown} {reads}: remove {extra}"))
            return None
    try:
        if "VERIFIER" in conf:
            return _given_verifier(conf["VERIFIER"])
        if auth == "env":
            from_env, asked = read_env(os.environ, warn=False)
            if asked.no_auth:
                problems.append(_accepts_anything("IDWISE_WEBHOOK_AUTH=none"))
            unread = unread_variables(os.environ)
            if unread:
                problems.append(
                    checks.Warning(
                        f"environment variables set but not read: {unread}",
                        hint="A misspelt variable leaves its check off; rename or unset it.",
                        id="idwise_events.W006",
                    )
                )
            return from_env
        verifier = build_verifier(_auth_config(conf), names=_NAMES, warn=False)
    except ValueError as exc:  # the messages name keys or variables, never a secret
        prefix = "AUTH='env': " if auth == "env" else ""
        problems.append(_auth_error(f"{prefix}{exc}"))
        return None
    if auth == "none":
        problems.append(_accepts_anything("AUTH='none'"))
    elif verifier is None:
        return _unauthenticated(problems)
    return verifier


def _unauthenticated(problems: list[checks.CheckMessage]) -> Verifier | None:
    """Nothing configured: an error (no verifier), or with DEBUG on a warning and `NoAuth`."""
    if not settings.DEBUG:
        problems.append(
            _error(
                3,
                "no authentication is configured for the IDWise webhook endpoint",
                hint=(
                    f'Set {SETTING}["BEARER_TOKEN"] (or BASIC_AUTH, HEADER_AUTH, VERIFIER)'
                    ' to what the IDWise portal sends, "AUTH": "env" to read the'
                    ' IDWISE_WEBHOOK_* variables, or "AUTH": "none" on purpose.'
                ),
            )
        )
        return None
    problems.append(
        checks.Warning(
            "no authentication is configured: with DEBUG on, the IDWise webhook endpoint"
            " accepts requests without credentials",
            hint="Configure the portal's authentication before turning DEBUG off.",
            id="idwise_events.W001",
        )
    )
    return build_verifier(AuthConfig(no_auth=True), warn=False)


_AUTH_KEYS = ("AUTH", *_CREDENTIAL_KEYS, "IP_ALLOWLIST", "TRUSTED_PROXIES")
_NAMES = AuthNames(
    basic="BASIC_AUTH",
    bearer="BEARER_TOKEN",
    headers="HEADER_AUTH",
    ip_allowlist="IP_ALLOWLIST",
    trusted_proxies="TRUSTED_PROXIES",
    no_auth="AUTH='none'",
)


def _given_verifier(verifier: object) -> Verifier:
    if not isinstance(verifier, Verifier):
        raise ValueError(
            f"VERIFIER must be a verifier such as BearerAuth(...), not {type(verifier).__name__}"
        )
    return verifier


def _accepts_anything(why: str) -> checks.Warning:
    return checks.Warning(
        f"the IDWise webhook endpoint accepts requests without credentials ({why})",
        hint="Choose an authentication method in the IDWise portal and configure it here.",
        id="idwise_events.W002",
    )


def _auth_config(conf: Mapping[str, Any]) -> AuthConfig:
    """The settings' syntax: strings or lists of them, pairs, a dict of headers, a count."""
    bearer = conf.get("BEARER_TOKEN")
    if bearer is not None and not (isinstance(bearer, str) or _strings(bearer)):
        raise ValueError(_type_message("BEARER_TOKEN", "a string or a list of strings"))
    headers = conf.get("HEADER_AUTH")
    if headers is not None and (
        not isinstance(headers, Mapping)
        or not all(
            isinstance(name, str) and (isinstance(value, str) or _strings(value))
            for name, value in headers.items()
        )
    ):
        raise ValueError(
            _type_message("HEADER_AUTH", "a dict of header names to a string or a list")
        )
    networks = conf.get("IP_ALLOWLIST")
    if networks is not None and (isinstance(networks, str) or not _strings(networks)):
        raise ValueError(_type_message("IP_ALLOWLIST", "a list of networks or addresses"))
    proxies = conf.get("TRUSTED_PROXIES")
    if proxies is not None and (
        isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0
    ):
        raise ValueError(_type_message("TRUSTED_PROXIES", "a whole number, 0 or more"))
    return AuthConfig(
        basic=_basic_pairs(conf["BASIC_AUTH"]) if "BASIC_AUTH" in conf else None,
        bearer=[bearer] if isinstance(bearer, str) else bearer,
        headers=headers,
        ip_allowlist=networks,
        trusted_proxies=proxies,
        no_auth=conf.get("AUTH") == "none",
    )


def _basic_pairs(value: object) -> list[tuple[str, str]]:
    """One ``(username, password)`` pair, or a list of them while you rotate (current first)."""
    pair = _pair(value)
    if pair is not None:
        return [pair]
    if isinstance(value, (list, tuple)) and value:
        pairs = [_pair(item) for item in value]
        if all(pair is not None for pair in pairs):
            return [pair for pair in pairs if pair is not None]
    raise ValueError(
        _type_message("BASIC_AUTH", "a (username, password) pair or a list of such pairs")
    )


def _pair(value: object) -> tuple[str, str] | None:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        username, password = value
        if isinstance(username, str) and isinstance(password, str):
            return username, password
    return None


def _strings(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(item, str) for item in value)
    )


def _type_message(key: str, expected: str) -> str:
    return f"{key} must be {expected}"


def _lease(conf: Mapping[str, Any], problems: list[checks.CheckMessage]) -> timedelta:
    lease = conf.get("LEASE", DEFAULT_LEASE)
    try:
        check_lease(lease)
    except (TypeError, ValueError) as exc:
        problems.append(_error(5, f"{SETTING}['LEASE']: {exc}"))
        return DEFAULT_LEASE
    checked: timedelta = lease
    return checked


def _retention(conf: Mapping[str, Any], problems: list[checks.CheckMessage]) -> timedelta:
    retention = conf.get("RETENTION", DEFAULT_RETENTION)
    if not isinstance(retention, timedelta) or retention <= timedelta(0):
        problems.append(
            _error(6, f"{SETTING}['RETENTION'] must be a timedelta over 0, like timedelta(days=30)")
        )
        return DEFAULT_RETENTION
    if retention < _SHORT_RETENTION:
        problems.append(
            checks.Warning(
                f"{SETTING}['RETENTION'] is {retention}: an event sent again after that runs again",
                hint="IDWise retries for about half an hour, and events can be re-sent by hand.",
                id="idwise_events.W004",
            )
        )
    return retention


def _max_body_bytes(conf: Mapping[str, Any], problems: list[checks.CheckMessage]) -> int:
    size = conf.get("MAX_BODY_BYTES", DEFAULT_MAX_BYTES)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        problems.append(_error(7, f"{SETTING}['MAX_BODY_BYTES'] must be a number of bytes, over 0"))
        return DEFAULT_MAX_BYTES
    # (DATA_UPLOAD_MAX_MEMORY_SIZE does not apply: the view reads the stream up to this limit.)
    checked: int = size
    return checked


def _statuses(
    conf: Mapping[str, Any], problems: list[checks.CheckMessage]
) -> Mapping[Outcome, int]:
    raw = conf.get("STATUSES", {})
    try:
        if not isinstance(raw, Mapping):
            raise TypeError("must be a dict of outcomes to statuses")
        statuses = {Outcome(outcome): status for outcome, status in raw.items()}
        responses_for(statuses)  # what the Dispatcher will check
    except (TypeError, ValueError) as exc:
        problems.append(
            _error(
                8,
                f"{SETTING}['STATUSES']: {exc}",
                hint='Keys are Outcome members or their values ("invalid"), values HTTP statuses.',
            )
        )
        return MappingProxyType({})
    return MappingProxyType(statuses)


def _auth_error(message: str) -> checks.Error:
    return _error(
        4,
        f"{SETTING}: {message}",
        hint="See the Django page of the idwise_events documentation for each method's keys.",
    )


def _error(number: int, message: str, hint: str | None = None) -> checks.Error:
    return checks.Error(message, hint=hint, id=f"idwise_events.E{number:03}")
