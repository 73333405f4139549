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
from .._request import WebhookRequest, WebhookResponse

__all__ = ["async_view", "handle", "handle_async", "to_response", "to_webhook_request", "view"]


def to_webhook_request(request: HttpRequest) -> WebhookRequest:
    """The delivery in a Django request: its raw body, headers and the connecting peer."""
    return WebhookRequest(request.body, request.headers, request.META.get("REMOTE_ADDR"))


def to_response(response: WebhookResponse) -> HttpResponse:
    """The dispatcher's answer as a Django response."""
    return HttpResponse(response.body, status=response.status, headers=response.headers)


def handle(request: HttpRequest, dispatcher: Dispatcher) -> HttpResponse:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    early = dispatcher.early_response(
        request.method or "", request.META.get("CONTENT_LENGTH"), request.META.get("REMOTE_ADDR")
    )
    return to_response(early or dispatcher.handle(to_webhook_request(request)))


async def handle_async(request: HttpRequest, dispatcher: Dispatcher) -> HttpResponse:
    """As `handle`, through `Dispatcher.handle_async` (Django has read the body already)."""
    early = dispatcher.early_response(
        request.method or "", request.META.get("CONTENT_LENGTH"), request.META.get("REMOTE_ADDR")
    )
    if early is not None:
        return to_response(early)
    return to_response(await dispatcher.handle_async(to_webhook_request(request)))


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
