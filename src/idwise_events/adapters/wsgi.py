"""WSGI: a standalone app that answers IDWise's webhooks, for any WSGI server or framework.

```python
application = app(dispatcher)  # gunicorn module:application; or mount it in Falcon, Bottle...
```

The app answers on whatever path it is mounted at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse
from . import several_processes
from ._body import handled, read_wsgi

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["app", "handle", "to_response", "to_webhook_request"]

WsgiResponse = tuple[str, list[tuple[str, str]], bytes]
"""A WSGI answer: the status line, the header pairs and the body."""


def to_webhook_request(environ: WSGIEnvironment, *, max_bytes: int | None = None) -> WebhookRequest:
    """The delivery in a WSGI environ: its raw body, headers and the connecting peer.

    Reads ``Content-Length`` bytes; a body without one (chunked) is read to its end only if the
    server says it is terminated (gunicorn and werkzeug do). With ``max_bytes``, reads at most
    ``max_bytes + 1`` bytes, enough to tell that the body is over the limit.

    Raises:
        ClientDisconnected: If the body broke off (the client went away).
    """
    body = read_wsgi(environ, max_bytes)
    return WebhookRequest(body, _header_pairs(environ), environ.get("REMOTE_ADDR"))


def _header_pairs(environ: WSGIEnvironment) -> Iterator[tuple[str, str]]:
    """The request's headers, as ``(name, value)`` pairs, read from ``environ`` when iterated."""
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            yield name[5:].replace("_", "-"), value
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            yield name.replace("_", "-"), environ[name]


def to_response(response: WebhookResponse) -> WsgiResponse:
    """The dispatcher's answer as a WSGI status line, header pairs and body."""
    status = f"{response.status} {_reason(response.status)}"
    headers = [*response.headers.items(), ("Content-Length", str(len(response.body)))]
    return status, headers, response.body


def handle(environ: WSGIEnvironment, dispatcher: Dispatcher) -> WsgiResponse:
    """Answer one request: refuse early (405, 413 on ``Content-Length``) or dispatch its body."""
    method = str(environ.get("REQUEST_METHOD", ""))
    early = dispatcher.early_response(
        method,
        environ.get("CONTENT_LENGTH"),
        environ.get("REMOTE_ADDR"),
        multiprocess=several_processes(environ),
        headers=_header_pairs(environ),  # a generator: read only if they are needed
    )
    if early is None:
        max_bytes = dispatcher.max_body_bytes
        early = handled(dispatcher, lambda: to_webhook_request(environ, max_bytes=max_bytes))
    return to_response(early)


def app(dispatcher: Dispatcher) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """A WSGI application that hands every request to ``dispatcher``."""

    def idwise_webhooks(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        status, headers, body = handle(environ, dispatcher)
        start_response(status, headers)
        return [body]

    return idwise_webhooks


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status of your own choosing that Python has no name for
        return "Unknown"
