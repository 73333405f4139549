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

__all__ = ["DEFAULT_PATH"]

DEFAULT_PATH = "/webhooks/idwise"
"""Where the mount helpers answer unless told otherwise: the URL path to give the IDWise portal."""

# Every method is routed to the dispatcher, so that it, not the framework, answers 405.
ROUTED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
