"""The rules that turn a chosen method and its credentials into one verifier, whatever the source.

The ``IDWISE_WEBHOOK_*`` variables (`verifier_from_env`), the Django app's ``IDWISE_EVENTS`` and
the command line's flags each parse their own syntax into an `AuthConfig`; `build_verifier`
alone decides what it means, so a method or a rule is added here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ._allowlist import IpAllowlist
from ._auth import AllOf, BasicAuth, BearerAuth, HeaderAuth, NoAuth, Verifier, quiet_no_auth

__all__: list[str] = []

_T = TypeVar("_T")


@dataclass(frozen=True)
class AuthConfig:
    """What a source asks of the verifier; ``None`` for what it does not configure."""

    basic: Sequence[tuple[str, str]] | None = None
    """Basic Authentication: the accepted ``(username, password)`` pairs, the current first."""
    bearer: Sequence[str] | None = None
    """Bearer Token: the accepted tokens."""
    headers: Mapping[str, str | Sequence[str]] | None = None
    """Add Header: each header's accepted value, or values."""
    ip_allowlist: Sequence[str] | None = None
    """The networks or addresses deliveries may come from."""
    trusted_proxies: int | None = None
    """How many reverse proxies forward the requests (needs ``ip_allowlist``)."""
    no_auth: bool = False
    """No Authentication, chosen on purpose (an allowlist may still restrict the senders)."""


@dataclass(frozen=True)
class AuthNames:
    """What a source calls each part of an `AuthConfig`, for its error messages."""

    basic: str = "basic"
    bearer: str = "bearer"
    headers: str = "headers"
    ip_allowlist: str = "ip_allowlist"
    trusted_proxies: str = "trusted_proxies"
    no_auth: str = "no_auth"


_GENERIC_NAMES = AuthNames()


def build_verifier(
    config: AuthConfig, *, names: AuthNames = _GENERIC_NAMES, warn: bool = True
) -> Verifier | None:
    """The verifier ``config`` describes; ``None`` when it configures nothing at all.

    Every method configured must pass (an `AllOf`, in the order Basic, Bearer, headers, IP
    allowlist). No Authentication with nothing else is `NoAuth`; with an allowlist, the
    allowlist alone.

    Args:
        config: What the source asks for.
        names: How the source names each part, in error messages.
        warn: Whether a `NoAuth` returned logs its warning. A source that says it in its own
            way (the Django app's system checks) passes False, so that it is said once.

    Raises:
        ValueError: If No Authentication comes with credentials, trusted proxies without an
            allowlist, or a verifier refuses a value. The message names the part, never a secret.
    """
    parts: list[tuple[str, Callable[[], Verifier]]] = []
    if config.basic is not None:
        pairs = config.basic
        parts.append((names.basic, lambda: BasicAuth(credentials=pairs)))
    if config.bearer is not None:
        tokens = config.bearer
        parts.append((names.bearer, lambda: BearerAuth(tokens)))
    if config.headers is not None:
        headers = config.headers
        parts.append((names.headers, lambda: HeaderAuth(headers)))
    if config.no_auth and parts:
        given = ", ".join(name for name, _ in parts)
        raise ValueError(f"{names.no_auth} contradicts the credentials configured ({given})")
    if config.ip_allowlist is not None:
        networks, proxies = config.ip_allowlist, config.trusted_proxies or 0
        parts.append((names.ip_allowlist, lambda: IpAllowlist(networks, trusted_proxies=proxies)))
    elif config.trusted_proxies is not None:
        raise ValueError(f"{names.trusted_proxies} needs {names.ip_allowlist}")
    verifiers = [labelled(name, make) for name, make in parts]
    if not verifiers:
        return (NoAuth() if warn else quiet_no_auth()) if config.no_auth else None
    return verifiers[0] if len(verifiers) == 1 else AllOf(*verifiers)


def labelled(name: str, make: Callable[[], _T]) -> _T:
    """``make()``; a `ValueError` it raises is raised again with ``name`` in front.

    For the verifiers' messages, and a source's parsing of its values: neither contains a secret.
    """
    try:
        return make()
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
