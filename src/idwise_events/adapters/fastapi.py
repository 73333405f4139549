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
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.adapters.fastapi needs FastAPI: pip install "idwise-events[fastapi]"'
    ) from _missing

from .._dispatch import Dispatcher
from . import DEFAULT_PATH, ROUTED_METHODS
from .starlette import handle, to_response, to_webhook_request

__all__ = ["handle", "router", "to_response", "to_webhook_request"]


def router(dispatcher: Dispatcher, path: str = DEFAULT_PATH, **options: Any) -> APIRouter:
    """An `APIRouter` whose one endpoint, ``path``, hands every request to ``dispatcher``.

    Only the POST operation appears in the OpenAPI schema; the other methods are routed too, so
    that the dispatcher answers them (405) rather than FastAPI.

    Args:
        dispatcher: The dispatcher with your handlers.
        path: The URL path (under the prefix you include the router with, if any).
        **options: Passed to `APIRouter` (``tags``, ``dependencies``...).
    """
    api = APIRouter(**options)

    async def idwise_webhook(request: Request) -> Response:
        return await handle(request, dispatcher)

    api.add_api_route(
        path,
        idwise_webhook,
        methods=["POST"],
        summary="Receive an IDWise webhook",
        response_class=Response,
    )
    others = [method for method in ROUTED_METHODS if method != "POST"]
    api.add_api_route(path, idwise_webhook, methods=others, include_in_schema=False)
    return api
