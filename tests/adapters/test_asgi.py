"""The ASGI app: body messages (bounded), disconnects, lifespan, websockets, response messages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from idwise_events import BearerAuth, Dispatcher, WebhookResponse
from idwise_events.adapters.asgi import (
    ClientDisconnected,
    Message,
    app,
    to_response,
    to_webhook_request,
)

RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/",
    "headers": [(b"authorization", b"Bearer t"), (b"content-type", b"application/json")],
    "client": ("203.0.113.9", 50123),
}


def receiver(*messages: Message) -> Any:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


def run(awaitable: Awaitable[None]) -> None:
    async def main() -> None:
        await awaitable

    asyncio.run(main())


def body_messages(*chunks: bytes) -> list[Message]:
    return [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]


def test_to_webhook_request_joins_the_body_messages_and_reads_headers_and_peer() -> None:
    """Chunks are joined in order; raw headers are read; client_ip is the scope's client."""
    request = asyncio.run(to_webhook_request(SCOPE, receiver(*body_messages(RAW[:7], RAW[7:]))))

    assert request.body == RAW
    assert request.header("Authorization") == "Bearer t"
    assert request.client_ip == "203.0.113.9"


def test_reading_stops_once_the_body_is_over_the_limit() -> None:
    """With max_bytes, no more messages are read than needed to tell the body is too large."""
    messages = body_messages(b"a" * 60, b"b" * 60, b"c" * 60)
    receive = receiver(*messages)

    request = asyncio.run(to_webhook_request(SCOPE, receive, max_bytes=100))

    assert request.body == b"a" * 60 + b"b" * 60


def test_a_client_that_disconnects_mid_body_gets_no_answer() -> None:
    """http.disconnect raises ClientDisconnected, and the app then sends nothing."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    disconnect = {"type": "http.disconnect"}
    with pytest.raises(ClientDisconnected):
        asyncio.run(to_webhook_request(SCOPE, receiver(disconnect)))

    application = app(Dispatcher(verifier=BearerAuth("t")))
    chunk = {"type": "http.request", "body": b"{", "more_body": True}
    run(application(SCOPE, receiver(chunk, disconnect), send))
    assert sent == []


def test_the_app_speaks_the_lifespan_protocol_and_closes_websockets() -> None:
    """Servers start and stop it cleanly; a websocket is refused."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    application = app(Dispatcher(verifier=BearerAuth("t")))
    lifespan = receiver({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    run(application({"type": "lifespan"}, lifespan, send))
    run(application({"type": "websocket"}, receiver(), send))

    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "websocket.close",
    ]


def test_to_response_gives_the_start_and_body_messages() -> None:
    """Lowercase latin-1 header names, a Content-Length, then the body."""
    start, body = to_response(WebhookResponse(200, b'{"outcome": "processed"}', {"X-A": "b"}))

    assert start == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"x-a", b"b"), (b"content-length", b"24")],
    }
    assert body == {
        "type": "http.response.body",
        "body": b'{"outcome": "processed"}',
        "more_body": False,  # optional in ASGI, but some servers' test clients require it
    }
