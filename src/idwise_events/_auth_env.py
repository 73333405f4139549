"""`verifier_from_env`: the verifier described by ``IDWISE_WEBHOOK_*`` environment variables."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from ._allowlist import IpAllowlist
from ._auth import AllOf, BasicAuth, BearerAuth, HeaderAuth, NoAuth, Verifier

__all__ = ["verifier_from_env"]

_PREFIX = "IDWISE_WEBHOOK_"
_T = TypeVar("_T")


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
            The message names the variable, never a secret.
    """
    env = os.environ if environ is None else environ
    mode = env.get(f"{_PREFIX}AUTH")
    if mode is not None and mode.strip().lower() != "none":
        raise ValueError(f"{_PREFIX}AUTH may only be 'none' (leave it unset otherwise)")

    credentials = _credential_verifiers(env)
    if mode is not None and credentials:
        raise ValueError(f"{_PREFIX}AUTH=none contradicts the credentials that are configured")
    verifiers = credentials + _allowlist(env)
    if not verifiers:
        if mode is None:
            raise ValueError(
                "no webhook authentication is configured: set the IDWISE_WEBHOOK_* variables for"
                " the method chosen in the IDWise portal (see verifier_from_env), or"
                f" {_PREFIX}AUTH=none to accept unauthenticated requests"
            )
        return NoAuth()
    return verifiers[0] if len(verifiers) == 1 else AllOf(*verifiers)


def _credential_verifiers(env: Mapping[str, str]) -> list[Verifier]:
    verifiers: list[Verifier] = []
    username, password = env.get(f"{_PREFIX}BASIC_USERNAME"), env.get(f"{_PREFIX}BASIC_PASSWORD")
    if (username is None) != (password is None):
        raise ValueError(
            f"{_PREFIX}BASIC_USERNAME and {_PREFIX}BASIC_PASSWORD must be set together"
        )
    if username is not None and password is not None:
        verifiers.append(_build("BASIC_USERNAME/PASSWORD", lambda: BasicAuth(username, password)))
    tokens = env.get(f"{_PREFIX}BEARER_TOKEN")
    if tokens is not None:
        verifiers.append(_build("BEARER_TOKEN", lambda: BearerAuth(_split(tokens))))
    headers = env.get(f"{_PREFIX}HEADERS")
    if headers is not None:
        verifiers.append(_build("HEADERS", lambda: HeaderAuth(_json_object(headers))))
    return verifiers


def _allowlist(env: Mapping[str, str]) -> list[Verifier]:
    networks = env.get(f"{_PREFIX}IP_ALLOWLIST")
    proxies = env.get(f"{_PREFIX}TRUSTED_PROXIES")
    if networks is None:
        if proxies is not None:
            raise ValueError(f"{_PREFIX}TRUSTED_PROXIES needs {_PREFIX}IP_ALLOWLIST")
        return []
    trusted = _build("TRUSTED_PROXIES", lambda: _count(proxies or "0"))
    return [_build("IP_ALLOWLIST", lambda: IpAllowlist(_split(networks), trusted_proxies=trusted))]


def _build(variable: str, make: Callable[[], _T]) -> _T:
    """Run ``make``; a `ValueError` it raises is re-raised naming the variable."""
    try:
        return make()
    except ValueError as exc:  # messages from the verifiers never contain the secret
        raise ValueError(f"{_PREFIX}{variable}: {exc}") from exc


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")]


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _json_object(value: str) -> dict[str, str | list[str]]:
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
