"""Flask: a blueprint that answers IDWise's webhooks.

```python
app.register_blueprint(blueprint(dispatcher))  # POST /webhooks/idwise
```
"""

from __future__ import annotations

try:
    import flask
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.flask needs Flask: pip install "idwise-events[flask]"'
    ) from _missing

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse
from . import DEFAULT_PATH, ROUTED_METHODS

__all__ = ["blueprint", "handle", "to_response", "to_webhook_request"]


def to_webhook_request(request: flask.Request) -> WebhookRequest:
    """The delivery in a Flask request: its raw body, headers and the connecting peer."""
    return WebhookRequest(
        request.get_data(cache=False), request.headers.items(), request.remote_addr
    )


def to_response(response: WebhookResponse) -> flask.Response:
    """The dispatcher's answer as a Flask response."""
    return flask.Response(response.body, status=response.status, headers=response.headers)


def handle(request: flask.Request, dispatcher: Dispatcher) -> flask.Response:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    early = dispatcher.early_response(request.method, request.content_length, request.remote_addr)
    return to_response(early or dispatcher.handle(to_webhook_request(request)))


def blueprint(
    dispatcher: Dispatcher, *, path: str = DEFAULT_PATH, name: str = "idwise_events"
) -> flask.Blueprint:
    """A blueprint with one endpoint, ``path``, that hands every request to ``dispatcher``.

    Args:
        dispatcher: The dispatcher with your handlers.
        path: The URL path (under the blueprint's ``url_prefix``, if you register it with one).
        name: The blueprint's name; give each its own if you mount several.
    """
    bp = flask.Blueprint(name, __name__)

    def idwise_webhook() -> flask.Response:
        return handle(flask.request, dispatcher)

    bp.add_url_rule(path, view_func=idwise_webhook, methods=ROUTED_METHODS)
    return bp
