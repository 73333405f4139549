"""aiohttp: a route that answers IDWise's webhooks.

```python
app.add_routes([route(dispatcher)])  # POST /webhooks/idwise
```
"""

from __future__ import annotations

try:
    from aiohttp import web
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.aiohttp needs aiohttp: pip install "idwise-events[aiohttp]"'
    ) from _missing

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse
from . import DEFAULT_PATH
from ._body import handled_async, read_async

__all__ = ["handle", "route", "to_response", "to_webhook_request"]


async def to_webhook_request(
    request: web.Request, *, max_bytes: int | None = None
) -> WebhookRequest:
    """The delivery in an aiohttp request: its raw body, headers and the connecting peer.

    The body is read from the payload stream: with ``max_bytes``, at most ``max_bytes + 1``
    bytes, whatever the application's ``client_max_size``, so that the dispatcher's limit is
    the one that applies.

    Raises:
        ClientDisconnected: If the body broke off (the client went away).
    """
    if request.can_read_body:
        body = await read_async(request.content.iter_any(), max_bytes)
    else:  # read already, by a middleware say: aiohttp kept it
        body = await request.read()
    return WebhookRequest(body, request.raw_headers, request.remote)


def to_response(response: WebhookResponse) -> web.Response:
    """The dispatcher's answer as an aiohttp response."""
    return web.Response(body=response.body, status=response.status, headers=response.headers)


async def handle(request: web.Request, dispatcher: Dispatcher) -> web.Response:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    early = dispatcher.early_response(
        request.method,
        request.headers.get("Content-Length"),
        request.remote,
        headers=request.raw_headers,
    )
    if early is None:
        reading = to_webhook_request(request, max_bytes=dispatcher.max_body_bytes)
        early = await handled_async(dispatcher, reading)
    return to_response(early)


def route(dispatcher: Dispatcher, *, path: str = DEFAULT_PATH) -> web.RouteDef:
    """A route at ``path``, for ``app.add_routes``, that hands every request to ``dispatcher``.

    It answers at ``path`` with or without a final slash: IDWise does not follow redirects.
    ``path`` is a plain path (no ``{variables}``).
    """

    async def idwise_webhook(request: web.Request) -> web.Response:
        return await handle(request, dispatcher)

    stem = path[:-1] if path.endswith("/") and path != "/" else path
    either = path if path == "/" else stem + "{_slash:/?}"
    return web.route("*", either, idwise_webhook)
