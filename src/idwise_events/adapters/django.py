"""Django: CSRF-exempt views that answer IDWise's webhooks, synchronous or async.

```python
urlpatterns = [path("webhooks/idwise", view(dispatcher))]
```

For an app with settings, the ORM store, the admin and commands, see
[`idwise_events.contrib.django`][idwise_events.contrib.django].
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

try:
    from django.http import HttpRequest, HttpResponse
    from django.views.decorators.csrf import csrf_exempt
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.django needs Django: pip install "idwise-events[django]"'
    ) from _missing

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse, parse_content_length
from . import several_processes
from ._body import handled, handled_async, read_stream

__all__ = ["async_view", "handle", "handle_async", "to_response", "to_webhook_request", "view"]


def to_webhook_request(request: HttpRequest, *, max_bytes: int | None = None) -> WebhookRequest:
    """The delivery in a Django request: its raw body, headers and the connecting peer.

    With ``max_bytes``, reads at most ``max_bytes + 1`` bytes of the body, whatever
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, so that the dispatcher's limit is the one that applies. A
    chunked body (no ``Content-Length``), which Django reads as empty under WSGI, is read from
    the server's stream when the server marks where it ends (gunicorn does).

    Raises:
        ClientDisconnected: If the body broke off (the client went away).
    """
    return WebhookRequest(
        _body(request, max_bytes), request.headers, request.META.get("REMOTE_ADDR")
    )


def to_response(response: WebhookResponse) -> HttpResponse:
    """The dispatcher's answer as a Django response."""
    return HttpResponse(response.body, status=response.status, headers=response.headers)


def handle(request: HttpRequest, dispatcher: Dispatcher) -> HttpResponse:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    early = dispatcher.early_response(
        request.method or "",
        request.META.get("CONTENT_LENGTH"),
        request.META.get("REMOTE_ADDR"),
        multiprocess=several_processes(request.META),
        headers=request.headers,
    )
    if early is None:
        max_bytes = dispatcher.max_body_bytes
        early = handled(dispatcher, lambda: to_webhook_request(request, max_bytes=max_bytes))
    return to_response(early)


async def handle_async(request: HttpRequest, dispatcher: Dispatcher) -> HttpResponse:
    """As `handle`, through `Dispatcher.handle_async`.

    Under ASGI, Django reads the whole body before it calls the view: only the server's limits
    (or the [ASGI adapter][idwise_events.adapters.asgi]) stop a large one sooner.
    """
    early = dispatcher.early_response(
        request.method or "",
        request.META.get("CONTENT_LENGTH"),
        request.META.get("REMOTE_ADDR"),
        headers=request.headers,
    )
    if early is not None:
        return to_response(early)
    max_bytes = dispatcher.max_body_bytes

    async def read() -> WebhookRequest:
        return to_webhook_request(request, max_bytes=max_bytes)

    return to_response(await handled_async(dispatcher, read()))


def _body(request: HttpRequest, max_bytes: int | None) -> bytes:
    meta = request.META
    if "wsgi.input" not in meta:  # ASGI: the body Django has read whole, however it was framed
        return read_stream(request.read, None, max_bytes)
    announced = parse_content_length(meta.get("CONTENT_LENGTH"))
    chunked = "HTTP_TRANSFER_ENCODING" in meta  # its framing, not Content-Length, counts
    if (announced is None or chunked) and meta.get("wsgi.input_terminated"):
        return read_stream(meta["wsgi.input"].read, None, max_bytes)  # read to its end
    # Django's stream: Content-Length bytes (fewer if the client went away).
    return read_stream(request.read, announced, max_bytes, exact=not chunked)


def view(dispatcher: Dispatcher) -> Callable[[HttpRequest], HttpResponse]:
    """A view for your URLconf that hands every request to ``dispatcher``.

    It is exempt from CSRF checks (IDWise authenticates with the credentials the dispatcher's
    verifier checks, not with a CSRF token) and answers only POST, whatever the URLconf routes
    to it. It is a synchronous view; Django runs it in a thread under ASGI.
    """

    @csrf_exempt
    def idwise_webhook(request: HttpRequest) -> HttpResponse:
        return handle(request, dispatcher)

    return idwise_webhook


def async_view(
    dispatcher: Dispatcher,
) -> Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]]:
    """An async view that hands every request to ``dispatcher.handle_async``; CSRF-exempt too.

    Under ASGI, coroutine handlers are awaited on the server's event loop. Plain handlers and a
    blocking store run in threads: create the dispatcher with
    ``run_sync=asgiref.sync.sync_to_async`` if they use Django's database, so that they use the
    connections Django manages (the [Django app](../django.md) does).
    """

    async def idwise_webhook(request: HttpRequest) -> HttpResponse:
        return await handle_async(request, dispatcher)

    # All that csrf_exempt does; the decorator keeps a view async only from Django 5.0 on.
    setattr(idwise_webhook, "csrf_exempt", True)  # noqa: B010 -- typed functions have no such attribute
    return idwise_webhook
