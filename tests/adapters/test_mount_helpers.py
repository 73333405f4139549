"""The mount helpers: the dispatcher first, options keyword-only; either final slash answered."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any

import pytest

from idwise_events import BearerAuth, Dispatcher, FinishedJourney
from idwise_events.testing import auth_headers, make_event

HELPERS = [
    ("flask", "blueprint"),
    ("django", "view"),
    ("django", "async_view"),
    ("starlette", "route"),
    ("fastapi", "router"),
    ("aiohttp", "route"),
    ("aws_lambda", "lambda_handler"),
    ("wsgi", "app"),
    ("asgi", "app"),
]


@pytest.mark.parametrize(("module", "name"), HELPERS)
def test_options_are_keyword_only(module: str, name: str) -> None:
    """``helper(dispatcher, path=...)``: a path or name passed positionally is a TypeError."""
    helper = getattr(importlib.import_module(f"idwise_events.adapters.{module}"), name)
    first, *options = inspect.signature(helper).parameters.values()

    assert first.name == "dispatcher"
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(
        option.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)
        for option in options
    )


def _starlette(path: str, dispatcher: Dispatcher) -> Any:
    from starlette.applications import Starlette

    from idwise_events.adapters.starlette import route

    return Starlette(routes=[route(dispatcher, path=path)])


def _fastapi(path: str, dispatcher: Dispatcher) -> Any:
    from fastapi import FastAPI

    from idwise_events.adapters.fastapi import router

    app = FastAPI()
    app.include_router(router(dispatcher, path=path), prefix="/hooks")
    return app


@pytest.mark.parametrize("framework", ["flask", "starlette", "fastapi", "aiohttp"])
@pytest.mark.parametrize("path", ["/webhooks/idwise", "/webhooks/idwise/"])
def test_the_route_answers_with_or_without_a_final_slash_never_a_redirect(
    framework: str, path: str
) -> None:
    """A portal URL differing by its final slash is processed: IDWise follows no redirect."""
    verifier = BearerAuth("slash-token")
    dispatcher = Dispatcher(verifier=verifier)
    ran: list[str] = []
    dispatcher.on(FinishedJourney)(lambda event: ran.append(event.idempotency_key))
    prefix = "/hooks" if framework == "fastapi" else ""
    stem = prefix + path.rstrip("/")
    statuses = []
    for url in (stem, stem + "/"):
        body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
        statuses.append(_post(framework, path, dispatcher, url, body, auth_headers(verifier)))
    other = _post(framework, path, dispatcher, stem + "/more", b"{}", auth_headers(verifier))

    assert statuses == [200, 200]
    assert len(ran) == 2
    assert other == 404


def _post(
    framework: str,
    path: str,
    dispatcher: Dispatcher,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> int:
    """POST ``body`` to ``url`` of an app mounting ``dispatcher`` at ``path``; the status."""
    if framework == "flask":
        import flask

        from idwise_events.adapters.flask import blueprint

        app = flask.Flask(__name__)
        app.register_blueprint(blueprint(dispatcher, path=path))
        return app.test_client().post(url, data=body, headers=headers).status_code
    if framework == "aiohttp":
        return asyncio.run(_post_aiohttp(path, dispatcher, url, body, headers))
    from starlette.testclient import TestClient

    app = (_starlette if framework == "starlette" else _fastapi)(path, dispatcher)
    with TestClient(app) as client:
        answer = client.post(url, content=body, headers=headers, follow_redirects=False)
        status: int = answer.status_code
        return status


async def _post_aiohttp(
    path: str, dispatcher: Dispatcher, url: str, body: bytes, headers: dict[str, str]
) -> int:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from idwise_events.adapters.aiohttp import route

    app = web.Application()
    app.add_routes([route(dispatcher, path=path)])
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.post(url, data=body, headers=headers, allow_redirects=False)
        status: int = response.status
        return status
