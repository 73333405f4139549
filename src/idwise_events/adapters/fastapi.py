"""FastAPI: an `APIRouter` that answers IDWise's webhooks (the Starlette converters, reused).

```python
app.include_router(router(dispatcher))  # POST /webhooks/idwise
```
"""

from __future__ import annotations

from typing import Any

try:
    from fastapi import APIRouter, Request
    from fastapi.responses import Response
    from fastapi.routing import APIRoute
    from starlette.types import Receive, Scope, Send
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.fastapi needs FastAPI: pip install "idwise-events[fastapi]"'
    ) from _missing

from .._dispatch import Dispatcher
from .._outcomes import Outcome
from .._parse import json_schema
from . import DEFAULT_PATH, ROUTED_METHODS, asgi, other_slash
from .starlette import handle, to_response, to_webhook_request

__all__ = ["handle", "router", "to_response", "to_webhook_request"]


def router(dispatcher: Dispatcher, *, path: str = DEFAULT_PATH, **options: Any) -> APIRouter:
    """An `APIRouter` whose one endpoint, ``path``, hands every request to ``dispatcher``.

    The endpoint answers with or without a final slash: FastAPI would redirect the other form,
    and IDWise does not follow redirects.

    The OpenAPI schema shows the POST operation with the envelope's JSON Schema as its request
    body and every status the dispatcher answers it with; the other methods are routed too, so
    that the dispatcher answers them (405) rather than FastAPI.

    The endpoint is the [ASGI adapter][idwise_events.adapters.asgi.handle], as Starlette's
    route is: FastAPI builds no ``Request`` or ``Response`` for it, parses nothing and runs no
    dependencies (IDWise authenticates with the dispatcher's verifier, not with FastAPI's).

    Args:
        dispatcher: The dispatcher with your handlers.
        path: The URL path (under the prefix you include the router with, if any).
        **options: Passed to `APIRouter` (``tags``, ``prefix``...), but for ``dependencies``.

    Raises:
        TypeError: If ``options`` has ``dependencies``: they would not run.
    """
    if options.get("dependencies"):
        raise TypeError("router: the webhook route runs no FastAPI dependencies")
    api = APIRouter(**options)
    endpoint = _Endpoint(dispatcher)
    api.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        name="idwise_webhook",
        summary="Receive an IDWise webhook",
        response_class=Response,
        responses=_responses(dispatcher),
        openapi_extra={"requestBody": _request_body()},
        route_class_override=_Route,
    )
    others = [method for method in ROUTED_METHODS if method != "POST"]
    api.add_api_route(
        path,
        endpoint,
        methods=others,
        name="idwise_webhook",
        include_in_schema=False,
        route_class_override=_Route,
    )
    # The other form too (FastAPI would redirect it, and IDWise follows no redirect); the root
    # has none.
    if other_slash(path) != path:
        api.add_api_route(
            other_slash(path),
            endpoint,
            methods=ROUTED_METHODS,
            name="idwise_webhook",
            include_in_schema=False,
            route_class_override=_Route,
        )
    return api


class _Endpoint:
    """What FastAPI documents the route with; requests go to `_Route.handle` instead."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(self, request: Request) -> Response:
        return await handle(request, self.dispatcher)


class _Route(APIRoute):
    """An `APIRoute` for the OpenAPI schema that answers as the ASGI adapter, with nothing built."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(self.endpoint, _Endpoint):
            await asgi.handle(scope, receive, send, self.endpoint.dispatcher)
        else:  # pragma: no cover - a _Route is always made with an _Endpoint
            await super().handle(scope, receive, send)


def _request_body() -> dict[str, Any]:
    """The envelope's JSON Schema as an OpenAPI request body, its ``$defs`` inlined.

    An operation's schema cannot bring its own ``$defs`` (references resolve against the whole
    OpenAPI document), and the envelope's models are not recursive, so each is written in place.
    """
    schema = json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})
    prefix = "#/$defs/"

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            here = {key: inline(value) for key, value in node.items() if key != "$ref"}
            if isinstance(ref, str) and ref.startswith(prefix):
                return {**inline(defs[ref[len(prefix) :]]), **here}
            return here if ref is None else {**here, "$ref": ref}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {"required": True, "content": {"application/json": {"schema": inline(schema)}}}


def _responses(dispatcher: Dispatcher) -> dict[int | str, dict[str, Any]]:
    """Each status the dispatcher answers a POST with, and the outcomes it stands for."""
    outcomes: dict[int, list[Outcome]] = {}
    for outcome, status in dispatcher.statuses.items():
        if outcome is not Outcome.METHOD_NOT_ALLOWED:  # never the answer to a POST
            outcomes.setdefault(status, []).append(outcome)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, members in sorted(outcomes.items()):
        names = [outcome.value for outcome in members]
        responses[status] = {
            "description": "Outcome: " + ", ".join(f"`{name}`" for name in names),
            "content": {"application/json": {"schema": _answer_schema(names)}},
        }
        if _RETRY_AFTER & set(members):
            responses[status]["headers"] = {"Retry-After": _RETRY_AFTER_HEADER}
    return responses


_RETRY_AFTER = {Outcome.IN_PROGRESS, Outcome.STORE_UNAVAILABLE}
"""The outcomes answered with a ``Retry-After`` header."""
_RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before sending the event again.",
    "schema": {"type": "integer"},
}


def _answer_schema(outcomes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "outcome": {"type": "string", "enum": outcomes},
            "detail": {"type": "string", "description": "Why a payload was refused (400)."},
        },
        "required": ["outcome"],
    }
