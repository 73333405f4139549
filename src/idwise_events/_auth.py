"""Verifiers: check that a delivery carries the credentials configured in the IDWise portal.

IDWise signs nothing (no HMAC, no timestamp): it sends the Basic credentials, Bearer token or
custom headers you configured, from its own IP ranges. Each verifier checks one of those; `AllOf`
(or ``a & b``) requires several. Every comparison hashes both sides and uses
`hmac.compare_digest`, and every configured credential is checked, so timing reveals neither
the secrets, nor their length, nor which one failed.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._credentials import (
    Hidden,
    basic_pair,
    check_header_name,
    check_header_secret,
    check_secret,
    count,
    digest,
    encode,
    header_problem,
    matches_any,
    scheme_credentials,
    scheme_problem,
    single_header,
)
from ._errors import VerificationError

if TYPE_CHECKING:
    from pydantic import SecretStr
from ._request import WebhookRequest

__all__ = ["AllOf", "BasicAuth", "BearerAuth", "HeaderAuth", "NoAuth", "Verifier"]

logger = logging.getLogger("idwise_events")
_INVALID = "missing or invalid credentials"


@runtime_checkable
class Verifier(Protocol):
    """Anything that decides whether a delivery is authentic.

    Implement ``verify`` to return ``None`` for an authentic request and raise
    [`VerificationError`][idwise_events.VerificationError] otherwise. There is deliberately no
    boolean variant: a forgotten ``if`` must not accept a forged request.
    """

    def verify(self, request: WebhookRequest) -> None:
        """Return if ``request`` is authentic; raise `VerificationError` if it is not."""


class Combinable(ABC):
    """What every verifier here shares: ``a & b`` builds an `AllOf`.

    Each checks a request in two steps: `_accepts`, the decision, in constant time; then, for a
    refused request only, `_problem`, what would be wrong with it, for the log. `_problem` does
    the same work whether the part passed or failed (it reads the request, and compares a secret
    only as `_accepts` did), so that the time a refusal takes does not tell which part it was.
    """

    __slots__ = ()

    def verify(self, request: WebhookRequest) -> None:
        """Return if ``request`` is authentic; raise `VerificationError` if it is not."""
        if not self._accepts(request):
            raise VerificationError(_INVALID, reason=self._problem(request))

    @abstractmethod
    def _accepts(self, request: WebhookRequest) -> bool:
        """Whether ``request`` passes, decided in constant time."""

    def _problem(self, request: WebhookRequest) -> str:
        """What is wrong with ``request`` if this part refuses it, for the log."""
        return ""

    def __and__(self, other: Verifier) -> AllOf:
        if not isinstance(other, Verifier):
            return NotImplemented
        return AllOf(self, other)

    def __rand__(self, other: Verifier) -> AllOf:
        if not isinstance(other, Verifier):
            return NotImplemented
        return AllOf(other, self)


class NoAuth(Combinable):
    """Accept every request: the portal's "No Authentication" setting.

    Anyone who finds the URL can then post forged events. Constructing one logs a warning on the
    ``idwise_events`` logger; combine with [`IpAllowlist`][idwise_events.IpAllowlist] at least.
    """

    __slots__ = ()

    def __init__(self) -> None:
        logger.warning(
            "NoAuth: this webhook endpoint is unauthenticated and accepts forged requests;"
            " configure credentials in the IDWise portal or restrict it with IpAllowlist"
        )

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request."""

    def _accepts(self, request: WebhookRequest) -> bool:
        return True

    def __repr__(self) -> str:
        return "NoAuth()"


def _check(verifier: Verifier, request: WebhookRequest) -> tuple[bool, str]:
    """Whether ``verifier`` accepts ``request`` (in constant time, for ours).

    With, for another verifier that refused, its error's reason (ours give theirs by `_problem`).
    """
    if isinstance(verifier, Combinable):
        return verifier._accepts(request), ""
    try:
        verifier.verify(request)
    except VerificationError as error:
        return False, error.reason
    return True, ""


def quiet_no_auth() -> NoAuth:
    """A `NoAuth` built without its warning, for a source that gives the warning its own way.

    The Django app says it through its system checks (W001/W002), which a project may silence.
    NoAuth holds no state: skipping ``__init__`` skips only the log record.
    """
    return object.__new__(NoAuth)


class BasicAuth(Combinable):
    """HTTP Basic authentication: the portal's "Basic Authentication" username and password.

    Pass one pair, or several with ``credentials`` while you rotate them (the first is the current
    one). The ``Authorization: Basic ...`` header must be strict base64 of the UTF-8
    ``username:password`` (RFC 7617's charset); the scheme name is case-insensitive. Unlike
    Bearer tokens and custom header values, the pair may hold non-ASCII characters: it travels
    base64-encoded, so the header itself is ASCII and no server changes it.

    Args:
        username: The username configured in the portal (must not contain a colon).
        password: Its password (may contain colons).
        credentials: Instead of ``username`` and ``password``: every accepted
            ``(username, password)`` pair.

    Raises:
        ValueError: If no pair is given, both forms are, or a username or password is empty or
            unusable. The message names the argument, never its value.

    Example:
        ```python
        BasicAuth("idwise", "correct horse battery staple")
        BasicAuth(credentials=[("idwise", "new password"), ("idwise", "old password")])
        ```
    """

    __slots__ = ("_digests", "_pairs")

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        credentials: Iterable[tuple[str, str]] = (),
    ) -> None:
        pairs = list(credentials)
        if username is not None or password is not None:
            if pairs:
                raise ValueError("BasicAuth: pass username and password, or credentials, not both")
            if username is None or password is None:
                raise ValueError("BasicAuth: username and password must be given together")
            pairs = [(username, password)]
        if not pairs:
            raise ValueError("BasicAuth: no credentials given")
        if any(isinstance(pair, str) or len(pair) != 2 for pair in pairs):
            raise ValueError("BasicAuth: credentials must be (username, password) pairs")
        for user, secret in pairs:
            check_secret(user, "BasicAuth username")
            check_secret(secret, "BasicAuth password")
            if ":" in user:
                raise ValueError("BasicAuth: a username must not contain ':'")
        self._pairs = tuple((Hidden(user), Hidden(secret)) for user, secret in pairs)
        self._digests = tuple(digest(f"{user}:{secret}".encode()) for user, secret in pairs)

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request only if it carries one of the configured pairs."""
        super().verify(request)

    def _accepts(self, request: WebhookRequest) -> bool:
        return matches_any(basic_pair(request), self._digests)

    def _problem(self, request: WebhookRequest) -> str:
        return scheme_problem(request, "Basic") or (
            "the Basic credentials are not one of the pairs configured"
            if basic_pair(request) is not None
            else "the Basic credentials are not canonical base64 of user:password"
        )

    @property
    def credentials(self) -> tuple[tuple[SecretStr, SecretStr], ...]:
        """Every accepted ``(username, password)`` pair, the current one first, kept secret."""
        from pydantic import SecretStr  # here: pydantic.types is costly to import

        return tuple((SecretStr(u.reveal()), SecretStr(p.reveal())) for u, p in self._pairs)

    def __repr__(self) -> str:
        return f"BasicAuth(<{count(self._pairs, 'credential')}>)"


class BearerAuth(Combinable):
    """A bearer token: the portal's "Bearer Token" setting (``Authorization: Bearer <token>``).

    Args:
        token: The token, or every accepted token while you rotate it (the first is the
            current one). The scheme name is case-insensitive; the token is compared exactly.

    Raises:
        ValueError: If no token is given, or a token is empty or contains whitespace, control
            characters or non-ASCII characters (it could not travel in a header, or could never
            match what servers present: they decode header bytes as latin-1). The message never
            shows the token.

    Example:
        ```python
        BearerAuth("kqX0...")
        BearerAuth(["new-token", "old-token"])
        ```
    """

    __slots__ = ("_digests", "_tokens")

    def __init__(self, token: str | Sequence[str]) -> None:
        tokens = [token] if isinstance(token, str) else list(token)
        if not tokens:
            raise ValueError("BearerAuth: no token given")
        for value in tokens:
            check_header_secret(value, "BearerAuth token")
            if any(char.isspace() for char in value):
                scheme = value.split(None, 1)[0].lower() == "bearer"
                raise ValueError(
                    "BearerAuth: a token must not contain whitespace"
                    + (": give the token without the 'Bearer ' that precedes it" if scheme else "")
                )
        self._tokens = tuple(Hidden(value) for value in tokens)
        self._digests = tuple(digest(value.encode()) for value in tokens)

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request only if it carries one of the configured tokens."""
        super().verify(request)

    def _accepts(self, request: WebhookRequest) -> bool:
        token = scheme_credentials(single_header(request, "authorization"), "bearer")
        return matches_any(encode(token), self._digests)

    def _problem(self, request: WebhookRequest) -> str:
        return (
            scheme_problem(request, "Bearer") or "the Bearer token is not one of those configured"
        )

    @property
    def tokens(self) -> tuple[SecretStr, ...]:
        """Every accepted token, the current one first, kept secret."""
        from pydantic import SecretStr  # here: pydantic.types is costly to import

        return tuple(SecretStr(token.reveal()) for token in self._tokens)

    def __repr__(self) -> str:
        return f"BearerAuth(<{count(self._tokens, 'token')}>)"


class HeaderAuth(Combinable):
    """Custom headers: the portal's "Add Header" key/value pairs.

    Every configured header must be present with one of its accepted values. Names are
    case-insensitive; values are compared exactly. A header sent several times with different
    values fails.

    Args:
        headers: Header name to its value, or to every accepted value while you rotate it (the
            first is the current one).

    Raises:
        ValueError: If no header is given, a name is not a valid HTTP header name or appears
            twice (ignoring case), or a value is missing, empty, has surrounding whitespace,
            control characters or non-ASCII characters (as for `BearerAuth`). The message names
            the header, never the value.

    Example:
        ```python
        HeaderAuth({"X-Api-Key": "kqX0...", "X-Tenant": "acme"})
        HeaderAuth({"X-Api-Key": ["new-key", "old-key"]})
        ```
    """

    __slots__ = ("_checks", "_headers")

    def __init__(self, headers: Mapping[str, str | Sequence[str]]) -> None:
        if not headers:
            raise ValueError("HeaderAuth: no headers given")
        checks: dict[str, tuple[bytes, ...]] = {}
        kept: dict[str, tuple[Hidden, ...]] = {}
        for name, accepted in headers.items():
            check_header_name(name, "HeaderAuth")
            if name.lower() in checks:
                raise ValueError(f"HeaderAuth: header {name!r} is given twice")
            values = [accepted] if isinstance(accepted, str) else list(accepted)
            if not values:
                raise ValueError(f"HeaderAuth: no value given for header {name!r}")
            for value in values:
                check_header_secret(value, f"HeaderAuth value of {name!r}")
            checks[name.lower()] = tuple(digest(value.encode()) for value in values)
            kept[name] = tuple(Hidden(value) for value in values)
        self._checks = tuple(checks.items())
        self._headers = kept

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request only if every configured header has an accepted value."""
        super().verify(request)

    def _accepts(self, request: WebhookRequest) -> bool:
        ok = True
        for name, digests in self._checks:  # all of them, whatever the outcome so far
            ok &= matches_any(encode(single_header(request, name)), digests)
        return ok

    def _problem(self, request: WebhookRequest) -> str:
        # Every header checked and described, whichever failed: the same work for each.
        problems = []
        for (_, digests), name in zip(self._checks, self._headers, strict=True):
            passed = matches_any(encode(single_header(request, name)), digests)
            problem = header_problem(request, name) or f"{name} is not one of the values configured"
            problems.append("" if passed else problem)
        return "; ".join(problem for problem in problems if problem)

    @property
    def headers(self) -> Mapping[str, tuple[SecretStr, ...]]:
        """Each configured header name (as given) to its accepted values, current first, secret."""
        from pydantic import SecretStr  # here: pydantic.types is costly to import

        return MappingProxyType(
            {
                name: tuple(SecretStr(value.reveal()) for value in values)
                for name, values in self._headers.items()
            }
        )

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={list(self._headers)!r})"


_OURS = frozenset({__name__, "idwise_events._allowlist"})


def decides_from_headers(verifier: Verifier) -> bool:
    """Whether ``verifier`` reads only the headers and the peer's address, never the body.

    Every verifier here does (IDWise signs nothing): such a request can be refused before its
    body is read. One of your own, a subclass of ours included, may read the body, so it is
    asked only once the body is in. A verifier standing for another one (the Django app's,
    which reads the settings) says which through ``_current_verifier()``.
    """
    if isinstance(verifier, AllOf):
        return all(decides_from_headers(part) for part in verifier.verifiers)
    current = getattr(verifier, "_current_verifier", None)
    if current is not None:
        try:
            now = current()
        except Exception:  # (invalid settings: the verifier says so itself, with the body)
            return False
        return decides_from_headers(now)
    return isinstance(verifier, Combinable) and type(verifier).__module__ in _OURS


class AllOf(Combinable):
    """Require every verifier given, as when the portal has Basic or Bearer plus custom headers.

    ``a & b`` builds the same thing; nested `AllOf` are flattened. Every part runs even after one
    failed, and the error never says which one did.

    Args:
        *verifiers: The verifiers that must all accept the request (at least one).

    Raises:
        ValueError: If no verifier is given.
        TypeError: If an argument has no ``verify`` method.

    Example:
        ```python
        BearerAuth("kqX0...") & HeaderAuth({"X-Tenant": "acme"}) & IpAllowlist(["203.0.113.0/24"])
        ```
    """

    __slots__ = ("verifiers",)

    def __init__(self, *verifiers: Verifier) -> None:
        parts: list[Verifier] = []
        for verifier in verifiers:
            if not isinstance(verifier, Verifier):
                raise TypeError(f"AllOf: {type(verifier).__name__} is not a Verifier")
            parts.extend(verifier.verifiers if isinstance(verifier, AllOf) else [verifier])
        if not parts:
            raise ValueError("AllOf: no verifiers given")
        self.verifiers: tuple[Verifier, ...] = tuple(parts)
        """The verifiers that must all accept a request, flattened."""

    def verify(self, request: WebhookRequest) -> None:
        """Run every verifier; raise one generic error if any of them refused.

        Its `reason` lists what failed; every part is asked for its reason, refused or not, so
        that the time a refusal takes does not tell which part it was.
        """
        checks = [_check(verifier, request) for verifier in self.verifiers]
        if not all(ok for ok, _ in checks):
            raise VerificationError(_INVALID, reason=self._problems(request, checks))

    def _accepts(self, request: WebhookRequest) -> bool:
        return all([ok for ok, _ in (_check(verifier, request) for verifier in self.verifiers)])

    def _problem(self, request: WebhookRequest) -> str:
        return self._problems(request, [_check(verifier, request) for verifier in self.verifiers])

    def _problems(self, request: WebhookRequest, checks: list[tuple[bool, str]]) -> str:
        # Every part described, refused or not; then those refused kept.
        problems = [
            verifier._problem(request) if isinstance(verifier, Combinable) else said
            for verifier, (_, said) in zip(self.verifiers, checks, strict=True)
        ]
        refused = (problem for problem, (ok, _) in zip(problems, checks, strict=True) if not ok)
        return "; ".join(problem for problem in refused if problem)

    def __repr__(self) -> str:
        return f"AllOf({', '.join(repr(verifier) for verifier in self.verifiers)})"
