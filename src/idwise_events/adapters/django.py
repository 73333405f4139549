"""Django: a CSRF-exempt view that answers IDWise's webhooks.

```python
urlpatterns = [path("webhooks/idwise", view(dispatcher))]
```
"""

from __future__ import annotations

from collections.abc import Callable

try:
    from django.http import HttpRequest, HttpResponse
    from django.views.decorators.csrf import csrf_exempt
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.django needs Django: pip install "idwise-events[django]"'
    ) from _missing

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse

__all__ = ["handle", "to_response", "to_webhook_request", "view"]


def to_webhook_request(request: HttpRequest) -> WebhookRequest:
    """The delivery in a Django request: its raw body, headers and the connecting peer."""
    return WebhookRequest(request.body, request.headers, request.META.get("REMOTE_ADDR"))


def to_response(response: WebhookResponse) -> HttpResponse:
    """The dispatcher's answer as a Django response."""
    return HttpResponse(response.body, status=response.status, headers=response.headers)


def handle(request: HttpRequest, dispatcher: Dispatcher) -> HttpResponse:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    early = dispatcher.early_response(request.method or "", request.META.get("CONTENT_LENGTH"))
    return to_response(early or dispatcher.handle(to_webhook_request(request)))


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
