"""`WebhookRequest` and `WebhookResponse`: the framework-neutral shape of one webhook delivery."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["WebhookRequest", "WebhookResponse"]


class WebhookRequest:
    """One incoming webhook delivery, as any web framework can describe it.

    Adapters build one per request from the framework's own request object; verifiers and the
    dispatcher read it. Building one is cheap: the headers are kept as given and indexed by
    lowercase name only when a header is first looked up.

    Args:
        body: The raw request body, exactly as received (never a re-serialised one).
        headers: The request headers, as a mapping or as ``(name, value)`` pairs. Pairs can carry
            a header that appears several times (ASGI's raw headers do); a mapping cannot.
        client_ip: The address of the peer that opened the connection (the last proxy, if there
            are proxies), or ``None`` when unknown.

    Example:
        ```python
        request = WebhookRequest(raw_body, {"Authorization": "Bearer ..."}, client_ip="203.0.113.9")
        request.header("authorization")  # names are case-insensitive
        ```
    """

    __slots__ = ("_index", "body", "client_ip", "headers")

    body: bytes
    """The raw request body."""
    headers: Mapping[str, str] | Collection[tuple[str, str]]
    """The headers as passed to the constructor (an iterator is kept as a tuple of its pairs)."""
    client_ip: str | None
    """The address of the connecting peer, or ``None`` when unknown."""

    def __init__(
        self,
        body: bytes,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        client_ip: str | None = None,
    ) -> None:
        self.body = body
        if isinstance(headers, (dict, list, tuple, Collection)):  # the common types checked first
            self.headers = headers
        else:
            self.headers = tuple(headers)  # an iterator can be read only once
        self.client_ip = client_ip
        self._index: dict[str, tuple[str, ...]] | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None`` if it is absent."""
        values = self._headers_by_name().get(name.lower())
        return values[0] if values else None

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive) in the order received; may be empty."""
        return self._headers_by_name().get(name.lower(), ())

    def _headers_by_name(self) -> dict[str, tuple[str, ...]]:
        index = self._index
        if index is None:
            pairs = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
            index = {name.lower(): (value,) for name, value in pairs}
            if len(index) != len(self.headers):  # a repeated name, maybe in another case: rare
                index = {}
                for name, value in pairs:
                    key = name.lower()
                    index[key] = (*index.get(key, ()), value)
            self._index = index
        return index

    def __repr__(self) -> str:
        # Header values carry the credentials: show only how many there are.
        return (
            f"WebhookRequest(body=<{len(self.body)} bytes>, headers=<{len(self.headers)} headers>,"
            f" client_ip={self.client_ip!r})"
        )


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer IDWise: a status code, a body and headers, for an adapter to send back."""

    status: int
    """The HTTP status code (IDWise treats only 200 as delivered)."""
    body: bytes = b""
    """The response body."""
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers, such as ``Retry-After``."""
