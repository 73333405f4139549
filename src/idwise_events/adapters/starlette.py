"""Starlette: a route that answers IDWise's webhooks.

```python
app = Starlette(routes=[route(dispatcher)])  # POST /webhooks/idwise
```
"""

from __future__ import annotations

try:
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.starlette needs Starlette: pip install "idwise-events[starlette]"'
    ) from _missing

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse
from . import DEFAULT_PATH, ROUTED_METHODS, asgi, either_slash
from ._body import ClientDisconnected, handled_async, read_async

__all__ = ["handle", "route", "to_response", "to_webhook_request"]


async def to_webhook_request(request: Request, *, max_bytes: int | None = None) -> WebhookRequest:
    """The delivery in a Starlette request: its raw body, headers and the connecting peer.

    With ``max_bytes``, reads at most ``max_bytes + 1`` bytes of the body, enough to tell that
    it is over the limit.

    Raises:
        ClientDisconnected: If the client went away before the body's end.
    """
    try:
        body = await read_async(request.stream(), max_bytes)
    except ClientDisconnect as gone:
        raise ClientDisconnected from gone
    client = request.client
    return WebhookRequest(body, request.headers.raw, client and client.host)


def to_response(response: WebhookResponse) -> Response:
    """The dispatcher's answer as a Starlette response."""
    return Response(response.body, status_code=response.status, headers=response.headers)


async def handle(request: Request, dispatcher: Dispatcher) -> Response:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    client = request.client
    early = dispatcher.early_response(
        request.method,
        request.headers.get("content-length"),
        client and client.host,
        headers=request.headers.raw,
    )
    if early is None:
        reading = to_webhook_request(request, max_bytes=dispatcher.max_body_bytes)
        early = await handled_async(dispatcher, reading)
    return to_response(early)


def route(
    dispatcher: Dispatcher, *, path: str = DEFAULT_PATH, name: str = "idwise_events"
) -> Route:
    """A route at ``path`` that hands every request to ``dispatcher``.

    It answers at ``path`` with or without a final slash: Starlette would redirect the other
    form, and IDWise does not follow redirects.

    Its endpoint is the [ASGI adapter][idwise_events.adapters.asgi.handle], which reads the body
    only up to the dispatcher's limit and builds no Starlette ``Request`` or ``Response``. To
    work with the ``Request`` in an endpoint of your own, call
    [`handle`][idwise_events.adapters.starlette.handle] there.
    """
    webhook = Route(path, _Endpoint(dispatcher), methods=ROUTED_METHODS, name=name)
    webhook.path_regex = either_slash(webhook.path_regex)  # IDWise follows no redirect
    return webhook


class _Endpoint:
    """The route's endpoint, an ASGI app: Starlette then builds no Request or Response for it."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asgi.handle(scope, receive, send, self.dispatcher)
