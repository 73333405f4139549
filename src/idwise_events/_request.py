"""`WebhookRequest`, `WebhookResponse` and `Outcome`: the framework-neutral shape of a delivery."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TypeAlias

__all__ = ["Outcome", "WebhookRequest", "WebhookResponse"]

Headers: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]
"""Request headers as a framework hands them over: a mapping, or ``(name, value)`` pairs.

Pairs may repeat a name (ASGI, aiohttp and Lambda v1 keep repeated headers apart) and may be
bytes, as ASGI's raw headers are; bytes are read as latin-1, the way HTTP servers present them.
"""


_SCANS = 3
"""Header lookups answered by a scan before the headers are indexed."""


class WebhookRequest:
    """One incoming webhook delivery, as any web framework can describe it.

    Adapters build one per request from the framework's own request object; verifiers and the
    dispatcher read it through `header` and `header_values`, whatever form the headers were
    given in.

    Args:
        body: The raw request body, exactly as received (never a re-serialised one).
        headers: The request headers: a mapping, or ``(name, value)`` pairs of ``str`` or of
            ``bytes`` (read as latin-1). Pairs can carry a header that appears several times; a
            mapping cannot. Entries whose value is neither ``str`` nor ``bytes`` (a WSGI
            ``environ``'s ``wsgi.input``, say) are ignored.
        client_ip: The address of the peer that opened the connection (the last proxy, if there
            are proxies), or ``None`` when unknown.

    Example:
        ```python
        request = WebhookRequest(raw_body, {"Authorization": "Bearer ..."}, client_ip="203.0.113.9")
        request.header("authorization")  # names are case-insensitive
        ```
    """

    __slots__ = ("_headers", "_index", "_lookups", "body", "client_ip")

    body: bytes
    """The raw request body."""
    client_ip: str | None
    """The address of the connecting peer, or ``None`` when unknown."""

    def __init__(
        self,
        body: bytes | bytearray | memoryview,
        headers: Headers = (),
        client_ip: str | None = None,
    ) -> None:
        self.body = body if type(body) is bytes else bytes(body)
        # Kept as given (an iterator as a tuple, since it can be read only once) and indexed on
        # the first lookup: most deliveries look up one or two headers, some none at all.
        self._headers: Mapping[str, str] | Collection[tuple[str | bytes, str | bytes]] = (
            headers if isinstance(headers, (dict, list, tuple, Collection)) else tuple(headers)
        )
        self.client_ip = client_ip
        self._index: dict[str, tuple[str, ...]] | None = None
        self._lookups = 0

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None`` if it is absent."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive) in the order received; may be empty."""
        key = name.lower()
        if self._index is not None:
            return self._index.get(key, ())
        if self._lookups < _SCANS:
            # A delivery's verifiers look up one to three headers (Authorization, an API key,
            # X-Forwarded-For): finding each costs less than indexing them all (a scan is about
            # half an index). More lookups index them, once.
            self._lookups += 1
            return self._scan(key)
        return self._build_index().get(key, ())

    def _pairs(self) -> Iterable[tuple[object, object]]:
        headers = self._headers
        return headers.items() if isinstance(headers, Mapping) else headers

    def _scan(self, key: str) -> tuple[str, ...]:
        found: tuple[str, ...] = ()
        # ASGI's names are bytes: an ASCII name is compared as bytes, without decoding each one.
        # Lengths are compared first only for an ASCII name: lowering other text can change its
        # length ("İ" is two characters lowered).
        raw = key.encode("ascii") if key.isascii() else None
        length = len(key) if raw is not None else -1
        for name, value in self._pairs():
            if type(name) is str:
                if (length >= 0 and len(name) != length) or name.lower() != key:
                    continue
                if raw is not None and not name.isascii():  # see `_build_index`
                    continue
            elif type(name) is bytes and raw is not None:
                if len(name) != length or name.lower() != raw:
                    continue
            else:
                text = _text(name)
                if text is None or text.lower() != key or (raw is not None and not text.isascii()):
                    continue
            text = value if type(value) is str else _text(value)
            if text is not None:
                found += (text,)
        return found

    def _build_index(self) -> dict[str, tuple[str, ...]]:
        index: dict[str, tuple[str, ...]] = {}
        for name, value in self._pairs():
            if type(name) is bytes and type(value) is bytes:  # ASGI's raw headers
                name, value = name.decode("latin-1"), value.decode("latin-1")
            elif type(name) is not str or type(value) is not str:
                name, value = _text(name), _text(value)
                if name is None or value is None:
                    continue
            key = name.lower()
            if key.isascii() and not name.isascii():
                # "X-Api-\u212aey" (a Kelvin sign) lowers to "x-api-key", but is another name;
                # only a hand-made request can carry it (names are ASCII on the wire).
                continue
            index[key] = (*index[key], value) if key in index else (value,)
        self._index = index
        return index

    def __repr__(self) -> str:
        # Header values carry the credentials: show only how many there are.
        return (
            f"WebhookRequest(body=<{len(self.body)} bytes>, headers=<{len(self._headers)} headers>,"
            f" client_ip={self.client_ip!r})"
        )


def _text(value: object) -> str | None:
    """A header name or value as text: bytes read as latin-1, as HTTP servers do; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return value.decode("latin-1")
    return None


class Outcome(str, Enum):
    """What became of one delivery; each answers with a status (the default is given here).

    Override the status of some with ``Dispatcher(statuses={Outcome.UNAUTHORIZED: 403})``.
    """

    PROCESSED = "processed"
    """200: every handler ran and returned; the event is done (unknown event names included)."""
    ACCEPTED = "accepted"
    """200: stored in the dispatcher's inbox, for a worker to process (a first delivery)."""
    DUPLICATE = "duplicate"
    """200: the event was processed (or accepted into the inbox) before: nothing runs again."""
    IN_PROGRESS = "in_progress"
    """409 with ``Retry-After``: another worker holds the event right now."""
    METHOD_NOT_ALLOWED = "method_not_allowed"
    """405 with ``Allow: POST``: the request was not a POST."""
    TOO_LARGE = "too_large"
    """413: the body, or its announced ``Content-Length``, is over ``max_body_bytes``."""
    UNAUTHORIZED = "unauthorized"
    """401: the verifier refused the credentials (the answer does not say which check failed)."""
    INVALID = "invalid"
    """400: authenticated, but not a valid IDWise webhook; the ``on_invalid`` hooks saw it."""
    HANDLER_FAILED = "handler_failed"
    """500: a handler raised; the claim was released, so IDWise's retry runs the event again."""
    STORE_UNAVAILABLE = "store_unavailable"
    """503 with ``Retry-After``: the store (or inbox) is unreachable; nothing was acknowledged."""


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer IDWise: a status code, a body and headers, for an adapter to send back.

    Immutable, headers included, so that one response can be answered many times.
    """

    status: int
    """The HTTP status code (IDWise treats only 200 as delivered)."""
    body: bytes = b""
    """The response body."""
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    """Response headers, such as ``Content-Type`` and ``Retry-After``."""
    outcome: Outcome | None = field(default=None, compare=False)
    """What became of the delivery (the body's ``outcome``), as an
    [`Outcome`][idwise_events.Outcome]; ``None`` for a response the dispatcher did not make.
    In a test: ``assert dispatcher.handle(request).outcome is Outcome.DUPLICATE``. Not compared:
    two responses with the same status, body and headers are equal."""


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def parse_content_length(value: int | str | bytes | None) -> int | None:
    """The body length a ``Content-Length`` value announces, or ``None`` if it announces none.

    The one parser of the header, for the dispatcher and every adapter. Only ASCII digits make
    a length (RFC 9110): ``str.isdigit`` and ``int`` also take ``²``, ``①`` or Arabic-Indic
    digits, which would raise or announce a length that was never sent.
    """
    if value is None or isinstance(value, int):
        return value if value is None or value >= 0 else None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0")
    # `int` refuses over 4,300 digits (a ValueError, a 500 before authentication): a length of
    # 19 digits or more is past any body limit, and announced as such.
    return int(digits or "0") if len(digits) < _LONGEST_LENGTH else 10 ** (_LONGEST_LENGTH - 1)


_LONGEST_LENGTH = 19
"""Digits of the smallest ``Content-Length`` read as "too large" without its exact value."""
