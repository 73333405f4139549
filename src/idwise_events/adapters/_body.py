"""Reading a request body up to the dispatcher's limit, written once for every adapter.

An adapter reads at most ``max_bytes + 1`` bytes, enough for the dispatcher to tell that a body
is over its limit (413), whatever the body announces (a chunked one announces nothing) and
whatever the framework's own settings are. A sender without credentials can then make the server
read no more than that.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._request import WebhookRequest, WebhookResponse, parse_content_length

if TYPE_CHECKING:
    from .._dispatch import Dispatcher

__all__ = [
    "ClientDisconnected",
    "handled",
    "handled_async",
    "read_async",
    "read_stream",
    "read_wsgi",
]

CHUNK = 65_536
"""Bytes asked for per read: memory grows with what was sent, not with what was announced."""

DISCONNECTED = WebhookResponse(400)
"""The answer to a client that went away before the body's end: no one reads it, nothing is
logged (the sender may well be no one: nothing was authenticated)."""


class ClientDisconnected(OSError):
    """The client went away before sending the whole body: there is no one to answer.

    An ``OSError``, as the servers' own errors it stands for (gunicorn's ``NoMoreData``,
    Django's ``UnreadablePostError``, a reset connection).
    """


def handled(dispatcher: Dispatcher, read: Callable[[], WebhookRequest]) -> WebhookResponse:
    """``dispatcher``'s answer to the delivery ``read`` returns, unless the client went away."""
    try:
        request = read()
    except ClientDisconnected:
        return DISCONNECTED
    return dispatcher.handle(request)


async def handled_async(dispatcher: Dispatcher, read: Awaitable[WebhookRequest]) -> WebhookResponse:
    """As `handled`, from async code: ``read`` is awaited, the delivery handled asynchronously."""
    try:
        request = await read
    except ClientDisconnected:
        return DISCONNECTED
    return await dispatcher.handle_async(request)


def read_stream(
    read: Callable[[int], bytes],
    length: int | None,
    max_bytes: int | None,
    *,
    exact: bool = True,
) -> bytes:
    """The body from a blocking stream's ``read(n)``: ``length`` bytes (all, if ``None``).

    With ``max_bytes``, stops after ``max_bytes + 1`` bytes. ``length`` is never read past, so
    that a server that does not mark the end of the body cannot make the read wait for more.
    ``exact``: the stream holds the ``length`` bytes its ``Content-Length`` announced, so fewer
    mean the client went away (WSGI servers hand over what came before it closed).

    Raises:
        ClientDisconnected: If the stream broke off (gunicorn's ``NoMoreData``, Django's
            ``UnreadablePostError``: an ``OSError``), or, ``exact``, ended before ``length``.
    """
    announced = length if exact else None
    if max_bytes is not None:
        length = max_bytes + 1 if length is None else min(length, max_bytes + 1)
    chunks: list[bytes] = []
    size = 0
    while length is None or size < length:
        try:
            chunk = read(CHUNK if length is None else min(CHUNK, length - size))
        except OSError as broken:
            raise ClientDisconnected from broken
        if not chunk:
            if announced is not None:  # short of what it announced: the client went away
                raise ClientDisconnected(f"the body ended after {size} of {announced} bytes")
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_wsgi(environ: Mapping[str, Any], max_bytes: int | None) -> bytes:
    """The body of a WSGI request: ``Content-Length`` bytes, or a chunked body to its end.

    A body without a length is read only when the server says its stream ends with the body
    (``wsgi.input_terminated``, as gunicorn and werkzeug set for a chunked one); otherwise the
    read could wait forever, and the body is read as empty. A chunked body that also announces
    a ``Content-Length`` is read by its chunks, as RFC 9112 says (werkzeug passes both on).
    """
    length = parse_content_length(environ.get("CONTENT_LENGTH"))
    read = environ["wsgi.input"].read
    if "HTTP_TRANSFER_ENCODING" in environ:  # chunked: its framing, not Content-Length, counts
        if environ.get("wsgi.input_terminated"):
            return read_stream(read, None, max_bytes)
        return b"" if length is None else read_stream(read, length, max_bytes, exact=False)
    if length is None and not environ.get("wsgi.input_terminated"):
        return b""
    return read_stream(read, length, max_bytes)


async def read_async(chunks: AsyncIterable[bytes], max_bytes: int | None) -> bytes:
    """The body from an async stream of chunks; with ``max_bytes``, stops past that many.

    Raises:
        ClientDisconnected: If the stream broke off (aiohttp's ``ConnectionResetError``).
    """
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                break
    except OSError as broken:
        raise ClientDisconnected from broken
    return b"".join(parts)
