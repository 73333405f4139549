"""AWS Lambda: a handler for API Gateway (REST v1, HTTP API v2) and Lambda function URL events.

```python
handler = lambda_handler(dispatcher)  # the function Lambda calls: handler(event, context)
```

Needs nothing beyond the standard library. Coroutine handlers run in a fresh event loop for each
delivery (``asyncio.run``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .._dispatch import Dispatcher
from .._request import WebhookRequest, WebhookResponse

__all__ = ["handle", "lambda_handler", "to_response", "to_webhook_request"]

logger: logging.Logger = logging.getLogger("idwise_events")

LambdaEvent = Mapping[str, Any]
"""An API Gateway or function URL event, as Lambda passes it (decoded JSON)."""


def to_webhook_request(event: LambdaEvent) -> WebhookRequest:
    """The delivery in a Lambda proxy event: the raw body (base64-decoded), headers, source IP.

    Repeated headers are kept apart when the event has ``multiValueHeaders`` (REST v1); a header
    only in ``headers`` is read from there. A body
    the event cannot carry (marked base64 but not base64, or not a string) is read as empty,
    with a warning that says why: the dispatcher then answers 401 to an unauthenticated caller
    and 400 to an authenticated one, rather than the function failing (API Gateway never sends
    such an event: a test's hand-written one may). So are headers and a request context that are not
    objects (a hand-written test event): absent.
    """
    source = _source_ip(event)
    encoded = event.get("isBase64Encoded")  # a hand-written event may spell it "false"
    base64_encoded = encoded is True or (isinstance(encoded, str) and encoded.lower() == "true")
    raw = _body(event.get("body") or "", base64_encoded=base64_encoded)
    multi = _object(event.get("multiValueHeaders"))
    headers = _object(event.get("headers"))
    if multi:
        pairs = [
            (name, value)
            for name, values in multi.items()
            if isinstance(values, (list, tuple))
            for value in values
        ]
        # A header only in "headers" (an event written by hand) is taken from there.
        names = {name.lower() for name, _ in pairs if isinstance(name, str)}
        pairs += [
            (name, value)
            for name, value in headers.items()
            if isinstance(name, str) and name.lower() not in names
        ]
        return WebhookRequest(raw, pairs, source)
    return WebhookRequest(raw, headers, source)


def _object(value: object) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one (absent, null, or malformed)."""
    return value if isinstance(value, Mapping) else {}


def _body(body: object, *, base64_encoded: bool) -> bytes:
    if not isinstance(body, str):
        _unreadable("its body is not a string")
        return b""
    if base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error, or a str that is not ASCII
            _unreadable("it is marked isBase64Encoded, but its body is not standard base64")
            return b""
    # The text as sent; lone surrogates are kept for the parser to refuse.
    return body.encode("utf-8", "surrogatepass")


def _unreadable(why: str) -> None:
    # Said for each such event: the answer's detail alone ("not valid JSON") points elsewhere.
    logger.warning("the Lambda event's body is read as empty: %s", why)


def to_response(response: WebhookResponse) -> dict[str, Any]:
    """The dispatcher's answer as a Lambda proxy response."""
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": base64.b64encode(response.body).decode("ascii"),
        "isBase64Encoded": True,
    }


def handle(event: LambdaEvent, dispatcher: Dispatcher) -> dict[str, Any]:
    """Answer one invocation: refuse other methods (405) or dispatch the body.

    An event that is not an object (a direct invocation with other JSON) has no method: 405.
    """
    event = _object(event)
    context = _object(event.get("requestContext"))
    method = event.get("httpMethod") or _object(context.get("http")).get("method") or ""
    if not isinstance(method, str):
        method = ""
    early = dispatcher.early_response(method, client_ip=_source_ip(event))
    return to_response(early or dispatcher.handle(to_webhook_request(event)))


def _source_ip(event: LambdaEvent) -> str | None:
    """The caller's address, from the HTTP API's or the REST API's request context."""
    context = _object(event.get("requestContext"))
    source = (_object(context.get("http")) or _object(context.get("identity"))).get("sourceIp")
    return source if isinstance(source, str) else None


def lambda_handler(dispatcher: Dispatcher) -> Callable[[LambdaEvent, Any], dict[str, Any]]:
    """The function to configure as the Lambda's handler: ``handler(event, context)``."""

    def idwise_webhook(event: LambdaEvent, context: Any) -> dict[str, Any]:
        return handle(event, dispatcher)

    return idwise_webhook
