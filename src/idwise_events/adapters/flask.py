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
from . import DEFAULT_PATH, ROUTED_METHODS, other_slash, several_processes
from ._body import handled, read_wsgi

__all__ = ["blueprint", "handle", "to_response", "to_webhook_request"]


def to_webhook_request(request: flask.Request, *, max_bytes: int | None = None) -> WebhookRequest:
    """The delivery in a Flask request: its raw body, headers and the connecting peer.

    The body is read from the WSGI stream as the [WSGI adapter][idwise_events.adapters.wsgi]
    reads it: with ``max_bytes``, at most ``max_bytes + 1`` bytes, whatever Flask's
    ``MAX_CONTENT_LENGTH``, so that the dispatcher's limit is the one that applies; or, if a
    ``before_request`` hook read it already with ``request.get_data()``, from Flask's cache.

    Raises:
        ClientDisconnected: If the body broke off (the client went away).
    """
    # A hook that read the body first (request.get_data()) left it in werkzeug's cache, not in
    # the stream: read from there, or the delivery would look cut short.
    cached = getattr(request, "_cached_data", None)
    body = cached if isinstance(cached, bytes) else read_wsgi(request.environ, max_bytes)
    return WebhookRequest(body, request.headers.items(), request.remote_addr)


def to_response(response: WebhookResponse) -> flask.Response:
    """The dispatcher's answer as a Flask response."""
    return flask.Response(response.body, status=response.status, headers=response.headers)


def handle(request: flask.Request, dispatcher: Dispatcher) -> flask.Response:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    early = dispatcher.early_response(
        request.method,
        request.environ.get("CONTENT_LENGTH"),
        request.remote_addr,
        multiprocess=several_processes(request.environ),
        headers=request.headers.items(),
    )
    if early is None:
        max_bytes = dispatcher.max_body_bytes
        early = handled(dispatcher, lambda: to_webhook_request(request, max_bytes=max_bytes))
    return to_response(early)


def blueprint(
    dispatcher: Dispatcher, *, path: str = DEFAULT_PATH, name: str = "idwise_events"
) -> flask.Blueprint:
    """A blueprint with one endpoint, ``path``, that hands every request to ``dispatcher``.

    The endpoint answers at ``path`` with or without a final slash, never with a redirect:
    IDWise does not follow them.

    Args:
        dispatcher: The dispatcher with your handlers.
        path: The URL path (under the blueprint's ``url_prefix``, if you register it with one).
        name: The blueprint's name; give each its own if you mount several.
    """
    bp = flask.Blueprint(name, __name__)

    def idwise_webhook() -> flask.Response:
        return handle(flask.request, dispatcher)

    bp.add_url_rule(path, view_func=idwise_webhook, methods=ROUTED_METHODS)
    if other_slash(path) != path:  # (the root has no other form)
        # The other form too: Flask would answer it 404 or a redirect, which IDWise does not
        # follow.
        bp.add_url_rule(other_slash(path), view_func=idwise_webhook, methods=ROUTED_METHODS)
    return bp
