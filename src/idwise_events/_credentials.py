"""For the verifiers: read credentials out of a request, compare them in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sized

from ._request import WebhookRequest

# Nothing here is public: the verifier modules share these helpers (hence no underscores).
__all__: list[str] = []

# RFC 7230 `token`: the characters a header name may contain.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Hidden:
    """A secret kept out of reprs (pydantic's SecretStr, without importing pydantic.types)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself."""
        return self._value

    def __repr__(self) -> str:
        return "Hidden('**********')"


def check_secret(value: object, what: str) -> str:
    """Return ``value`` if it is a usable secret; the error names ``what``, never the value."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty or only whitespace")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate; the error would quote part of the secret
        raise ValueError(f"{what} must be valid Unicode text") from None
    return value


def check_header_secret(value: object, what: str) -> str:
    """Like `check_secret`, for a value that travels as a header value as it is.

    Only printable ASCII: WSGI, ASGI and most servers present header bytes as latin-1 text, so a
    non-ASCII secret (sent as UTF-8, or mangled by a proxy) could never match what they present,
    and every delivery would be refused.
    """
    text = check_secret(value, what)
    if text != text.strip():
        raise ValueError(f"{what} must not start or end with whitespace")
    if _CONTROL.search(text):
        raise ValueError(f"{what} must not contain control characters")
    if not text.isascii():
        raise ValueError(
            f"{what} must be printable ASCII: servers present header values as latin-1, so"
            " other characters could never match"
        )
    return text


def check_header_name(name: object, what: str) -> str:
    """Return ``name`` if it is a valid HTTP header name (an RFC 7230 token)."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"{what}: {name!r} is not a valid HTTP header name")
    return name


def digest(data: bytes) -> bytes:
    """SHA-256 of ``data``: what is compared, so every comparison has the same length."""
    return hashlib.sha256(data).digest()


def encode(text: str | None) -> bytes | None:
    """UTF-8 bytes of a header value; lone surrogates are kept rather than raising."""
    return None if text is None else text.encode("utf-8", "surrogatepass")


def matches_any(presented: bytes | None, digests: tuple[bytes, ...]) -> bool:
    """Whether ``presented`` is one of the secrets ``digests`` were made from.

    Every digest is compared, without stopping at a match, in constant time.
    """
    candidate = digest(b"" if presented is None else presented)
    ok = False
    for expected in digests:
        ok |= hmac.compare_digest(candidate, expected)
    return ok and presented is not None


def single_header(request: WebhookRequest, name: str) -> str | None:
    """The value of header ``name``; ``None`` if absent or repeated with different values.

    Without the spaces and tabs around it, which are not part of a field's value (RFC 9110
    5.5): most servers strip them before we see the value, werkzeug does not.
    """
    values = request.header_values(name)
    if len(values) == 1:
        return values[0].strip(" \t")
    distinct = {value.strip(" \t") for value in values}
    return distinct.pop() if len(distinct) == 1 else None


def scheme_credentials(value: str | None, scheme: str) -> str | None:
    """The credentials of an ``Authorization`` value, if it uses ``scheme`` (lowercase).

    RFC 7235: the scheme is case-insensitive and separated from the credentials by one or more
    spaces. Credentials are returned as sent; ``None`` when missing or for another scheme.
    """
    if value is None:
        return None
    given, space, rest = value.partition(" ")
    if not space or not given.isascii() or given.lower() != scheme:
        return None
    return rest.lstrip(" ") or None


def basic_pair(request: WebhookRequest) -> bytes | None:
    """The decoded ``user:password`` bytes of a Basic ``Authorization`` header, if well formed.

    Strict: canonical base64 only (no whitespace, no missing padding, no stray bits), valid
    UTF-8, and a colon. Anything else gives ``None``, never an exception.
    """
    encoded = scheme_credentials(single_header(request, "authorization"), "basic")
    if encoded is None:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True)
        decoded.decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError and non-ASCII text are all ValueError
        return None
    # b64decode accepts stray bits in the last character ("YR==" decodes like "YQ=="): a request
    # whose header differs from the canonical encoding is not the one configured.
    if base64.b64encode(decoded).decode("ascii") != encoded or b":" not in decoded:
        return None
    return decoded


def count(items: Sized, noun: str) -> str:
    """``"1 token"``, ``"2 tokens"``: for reprs that must not show the secrets themselves."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def header_problem(request: WebhookRequest, name: str) -> str:
    """Why header ``name`` gives no value: ``"no X header"`` or that it came several times.

    For the log of a refused request (`VerificationError.reason`): never a value.
    """
    values = request.header_values(name)
    if not values:
        return f"no {name} header"
    if len({value.strip(" \t") for value in values}) > 1:
        return f"{name} sent {len(values)} times with different values"
    return ""


def scheme_problem(request: WebhookRequest, scheme: str) -> str:
    """Why ``Authorization`` carries no ``scheme`` credentials (``""`` if it does)."""
    problem = header_problem(request, "Authorization")
    if problem:
        return problem
    value = single_header(request, "authorization") or ""
    given = value.partition(" ")[0]
    if not given.isascii() or given.lower() != scheme.lower():
        return f"the Authorization header is not {scheme}"
    if scheme_credentials(value, scheme.lower()) is None:
        return f"the Authorization header has no {scheme} credentials"
    return ""
