"""ASGI: a standalone app that answers IDWise's webhooks, for any ASGI server or framework.

```python
application = app(dispatcher)  # uvicorn module:application; or mount it in Litestar, Quart...
```

The app answers on whatever path it is mounted at, and speaks the lifespan protocol so servers
start it cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse
from ._body import ClientDisconnected as ClientDisconnected  # raised by to_webhook_request
from ._body import read_async

__all__ = ["app", "handle", "to_response", "to_webhook_request"]

Scope = MutableMapping[str, Any]
"""The ASGI connection scope."""
Message = MutableMapping[str, Any]
"""One ASGI event message."""
Receive = Callable[[], Awaitable[Message]]
"""The ASGI ``receive`` callable."""
Send = Callable[[Message], Awaitable[None]]
"""The ASGI ``send`` callable."""
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI application."""


async def to_webhook_request(
    scope: Scope, receive: Receive, *, max_bytes: int | None = None
) -> WebhookRequest:
    """The delivery on an ASGI HTTP connection: its raw body, headers and the connecting peer.

    Reads the body messages; with ``max_bytes``, stops once it has more than that, enough to
    tell that the body is over the limit.

    Raises:
        ClientDisconnected: If the client disconnected before the body was complete.
    """
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body = message.get("body", b"")  # the whole body at once, as servers send a small one
    else:
        body = await read_async(_body_chunks(receive, message), max_bytes)
    client = scope.get("client")
    return WebhookRequest(body, scope["headers"], client[0] if client else None)


async def _body_chunks(receive: Receive, message: Message) -> AsyncIterator[bytes]:
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
        message = await receive()


def to_response(response: WebhookResponse) -> tuple[Message, Message]:
    """The dispatcher's answer as the two ASGI messages that send it (start, then body)."""
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    start = {"type": "http.response.start", "status": response.status, "headers": headers}
    return start, {"type": "http.response.body", "body": response.body, "more_body": False}


async def handle(scope: Scope, receive: Receive, send: Send, dispatcher: Dispatcher) -> None:
    """Answer one HTTP request: refuse early (405, 413 on ``Content-Length``) or dispatch it."""
    length = next((value for name, value in scope["headers"] if name == b"content-length"), None)
    client = scope.get("client")
    early = dispatcher.early_response(
        scope["method"],
        length.decode("latin-1") if length else None,
        client[0] if client else None,
        headers=scope["headers"],
    )
    if early is None:
        try:
            request = await to_webhook_request(scope, receive, max_bytes=dispatcher.max_body_bytes)
        except ClientDisconnected:
            return
        early = await dispatcher.handle_async(request)
    for message in to_response(early):
        await send(message)


def app(dispatcher: Dispatcher) -> AsgiApp:
    """An ASGI application that hands every HTTP request to ``dispatcher``."""

    async def idwise_webhooks(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await handle(scope, receive, send, dispatcher)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    return idwise_webhooks
