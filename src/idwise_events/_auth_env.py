"""`verifier_from_env`: the verifier described by ``IDWISE_WEBHOOK_*`` environment variables."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from ._auth import Verifier
from ._auth_config import AuthConfig, AuthNames, build_verifier, labelled

__all__ = ["verifier_from_env"]

_PREFIX = "IDWISE_WEBHOOK_"


def verifier_from_env(environ: Mapping[str, str] | None = None) -> Verifier:
    """Build the verifier that the ``IDWISE_WEBHOOK_*`` environment variables describe.

    - ``IDWISE_WEBHOOK_BASIC_USERNAME`` and ``IDWISE_WEBHOOK_BASIC_PASSWORD``: Basic
      Authentication (set both or neither).
    - ``IDWISE_WEBHOOK_BEARER_TOKEN``: Bearer Token; several, comma-separated, while you rotate.
    - ``IDWISE_WEBHOOK_HEADERS``: custom headers as a JSON object, ``{"X-Api-Key": "..."}``; a
      list of values for a header while you rotate it, ``{"X-Api-Key": ["new", "old"]}``.
    - ``IDWISE_WEBHOOK_IP_ALLOWLIST``: comma-separated networks or addresses, such as
      ``203.0.113.0/24,2001:db8::/32``.
    - ``IDWISE_WEBHOOK_TRUSTED_PROXIES``: how many reverse proxies of yours forward the requests
      (default 0; see [`IpAllowlist`][idwise_events.IpAllowlist]).
    - ``IDWISE_WEBHOOK_AUTH``: ``none`` to accept requests without credentials, on purpose.

    Every method that is configured must pass (an [`AllOf`][idwise_events.AllOf] when there are
    several). A variable that is set counts as configured, even when empty: an empty secret is an
    error, not a way to switch a check off. With no variable set this raises rather than accepting
    everything; ``IDWISE_WEBHOOK_AUTH=none`` gives [`NoAuth`][idwise_events.NoAuth] (or only the IP
    allowlist, if one is set).

    Args:
        environ: Where to read the variables; ``os.environ`` by default.

    Raises:
        ValueError: If nothing is configured, a username comes without its password (or the
            reverse), ``IDWISE_WEBHOOK_AUTH=none`` comes with credentials, or a value is invalid.
            The message names the variable, never a secret; with nothing configured, it names
            the variables set whose names look like these (a misspelt ``IDWISE_WEBHOOK_TOKEN``).
            With a method configured, such variables are a logged warning instead (a misspelt
            ``IDWISE_WEBHOOK_IP_ALLOWLST`` beside a token).
    """
    env = os.environ if environ is None else environ
    verifier, _ = read_env(env)
    return verifier


def read_env(env: Mapping[str, str], *, warn: bool = True) -> tuple[Verifier, AuthConfig]:
    """`verifier_from_env` on ``env``, with what the variables asked for.

    ``warn=False``: a `NoAuth` returned does not log its warning (the caller says it).
    """
    config = _parse(env)
    verifier = build_verifier(config, names=_NAMES, warn=warn)
    unread = unread_variables(env)
    if verifier is None:
        raise ValueError(
            "no webhook authentication is configured: set the IDWISE_WEBHOOK_* variables for"
            " the method chosen in the IDWise portal (see verifier_from_env), or"
            f" {_PREFIX}AUTH=none to accept unauthenticated requests"
            + (f"; set but not read: {unread}" if unread else "")
        )
    if unread and warn:
        # A misspelt IDWISE_WEBHOOK_IP_ALLOWLST beside a token would leave a check off unseen;
        # a warning, not an error: the prefix may name a variable of the app's own.
        logging.getLogger("idwise_events").warning(
            "webhook authentication is %r; set but not read: %s", verifier, unread
        )
    return verifier, config


_NAMES = AuthNames(
    basic=f"{_PREFIX}BASIC_USERNAME/PASSWORD",
    bearer=f"{_PREFIX}BEARER_TOKEN",
    headers=f"{_PREFIX}HEADERS",
    ip_allowlist=f"{_PREFIX}IP_ALLOWLIST",
    trusted_proxies=f"{_PREFIX}TRUSTED_PROXIES",
    no_auth=f"{_PREFIX}AUTH=none",
)
_VARIABLES = tuple(
    f"{_PREFIX}{name}"
    for name in (
        "AUTH",
        "BASIC_USERNAME",
        "BASIC_PASSWORD",
        "BEARER_TOKEN",
        "HEADERS",
        "IP_ALLOWLIST",
        "TRUSTED_PROXIES",
    )
)


def _parse(env: Mapping[str, str]) -> AuthConfig:
    """The variables' syntax: comma-separated lists, a JSON object, a count, ``none``."""
    mode = env.get(f"{_PREFIX}AUTH")
    if mode is not None and mode.strip().lower() != "none":
        raise ValueError(f"{_PREFIX}AUTH may only be 'none' (leave it unset otherwise)")
    username, password = env.get(f"{_PREFIX}BASIC_USERNAME"), env.get(f"{_PREFIX}BASIC_PASSWORD")
    if (username is None) != (password is None):
        raise ValueError(
            f"{_PREFIX}BASIC_USERNAME and {_PREFIX}BASIC_PASSWORD must be set together"
        )
    tokens = env.get(f"{_PREFIX}BEARER_TOKEN")
    headers = env.get(f"{_PREFIX}HEADERS")
    networks = env.get(f"{_PREFIX}IP_ALLOWLIST")
    proxies = env.get(f"{_PREFIX}TRUSTED_PROXIES")
    return AuthConfig(
        basic=None if username is None or password is None else [(username, password)],
        bearer=None if tokens is None else _split(tokens),
        headers=None if headers is None else labelled(_NAMES.headers, lambda: _json(headers)),
        ip_allowlist=None if networks is None else _split(networks),
        trusted_proxies=(
            None if proxies is None else labelled(_NAMES.trusted_proxies, lambda: _count(proxies))
        ),
        no_auth=mode is not None,
    )


def unread_variables(env: Mapping[str, str]) -> str:
    """The variables set whose names look like ours but are not (names only, never values).

    ``""`` if none; otherwise their names, with the one each probably meant.
    """
    seen = []
    for name in sorted(env):
        if name in _VARIABLES:
            continue
        meant = _meant(name.upper())
        if meant is not None:
            seen.append(f"{name} (did you mean {meant}?)")
        elif name.upper().startswith(_PREFIX):
            seen.append(name)
    return ", ".join(seen)


def _meant(name: str) -> str | None:
    """The variable ``name`` (upper case) was probably meant to be, if any."""
    import difflib  # when the verifier is built: not on `import idwise_events`

    if not name.startswith(_PREFIX):  # IDWISE_BEARER_TOKEN
        close = difflib.get_close_matches(name, _VARIABLES, n=1, cutoff=0.8)
        return close[0] if close else None
    rest = name[len(_PREFIX) :]
    parts = [variable[len(_PREFIX) :] for variable in _VARIABLES]
    # IDWISE_WEBHOOK_TOKEN is a part of BEARER_TOKEN; IDWISE_WEBHOOK_IP_ALLOWLST a near miss.
    close = [part for part in parts if rest in part] or difflib.get_close_matches(
        rest, parts, n=1, cutoff=0.75
    )
    return _PREFIX + close[0] if rest and close else None


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")]


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _json(value: str) -> dict[str, str | list[str]]:
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can follow
        # Not raised from here: the decode error keeps the whole text (a secret) as `.doc`.
        decoded = None
    if not isinstance(decoded, dict) or not all(
        isinstance(item, str)
        or (isinstance(item, list) and all(isinstance(part, str) for part in item))
        for item in decoded.values()
    ):
        raise ValueError("must be a JSON object of header names to a string or a list of strings")
    return decoded
