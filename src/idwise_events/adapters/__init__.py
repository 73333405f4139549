"""Adapters: one module per web framework, each a thin converter around `Dispatcher`.

Every adapter has the same four names:

- ``to_webhook_request(native)``: the framework's request as a
  [`WebhookRequest`][idwise_events.WebhookRequest] (the raw body bytes, the headers, the
  connecting peer's address);
- ``to_response(response)``: a [`WebhookResponse`][idwise_events.WebhookResponse] as the
  framework's response;
- ``handle(native, dispatcher)``: both conversions around the dispatcher, refusing other methods
  and an oversized ``Content-Length`` before reading the body, and reading at most the
  dispatcher's ``max_body_bytes`` + 1 bytes of any body (a chunked one too);
- a mount helper named for what it returns: `flask.blueprint`, `django.view`, `starlette.route`,
  `fastapi.router`, `aiohttp.route`, `aws_lambda.lambda_handler`, `wsgi.app`, `asgi.app`.

Importing an adapter whose framework is missing raises an ``ImportError`` that names the extra
to install. Adapters hold no status logic: every answer comes from the dispatcher.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_PATH"]

DEFAULT_PATH = "/webhooks/idwise"
"""Where the mount helpers answer unless told otherwise: the URL path to give the IDWise portal."""

# Every method is routed to the dispatcher, so that it, not the framework, answers 405.
ROUTED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def several_processes(environ: Mapping[str, Any]) -> bool:
    """Whether a WSGI server says it runs the app in several processes (``wsgi.multiprocess``).

    gunicorn, uWSGI and mod_wsgi say so exactly. Python's ``wsgiref`` (Django's ``runserver``)
    and test clients always say yes without knowing: they are not believed.
    """
    software = str(environ.get("SERVER_SOFTWARE", "WSGIServer/"))
    return bool(environ.get("wsgi.multiprocess")) and not software.startswith("WSGIServer/")


def either_slash(path_regex: re.Pattern[str]) -> re.Pattern[str]:
    """A Starlette route's path pattern (``^/webhooks/idwise$``) with its last slash optional.

    IDWise does not follow redirects: a portal URL that differs from the route by a final slash
    must be answered, not redirected (Starlette) or refused with 404 (Flask).
    """
    pattern = path_regex.pattern
    if not pattern.endswith("$"):  # pragma: no cover - Starlette's patterns all end so
        return path_regex
    stem = pattern[:-1]
    if stem.endswith("/"):
        stem = stem[:-1]
    return re.compile(stem + "/?$")


def other_slash(path: str) -> str:
    """``path`` with its final slash added or removed (``/`` itself stays ``/``)."""
    if path == "/":
        return path
    return path[:-1] if path.endswith("/") else path + "/"
