"""The apps `adapters_http` serves: each adapter beside a bare endpoint of the same framework.

Every app has two routes in one process: ``POST /webhooks/idwise``, the adapter's (BearerAuth, a
MemoryStore, one no-op handler), and ``POST /bare``, the least a receiver written in that
framework does (read the body, ``json.loads``, answer the same JSON). A server imports one app by
name: ``adapter_apps:asgi``, ``fastapi_app``, ``wsgi``, ``flask_app``,
``django_app``; aiohttp's is built by ``aiohttp_app()`` (``python -m aiohttp.web``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from idwise_events import BearerAuth, Dispatcher, Event, MemoryStore

TOKEN = "kqX0c2VjcmV0LXRva2VuLWZvci1iZW5jaG1hcmtz"  # noqa: S105 -- the same made-up token as wrk's
ADAPTER_PATH = "/webhooks/idwise"
BARE_PATH = "/bare"
PROCESSED = b'{"outcome": "processed"}'  # what the adapter answers, so both send the same


def _dispatcher() -> Dispatcher:
    dispatcher = Dispatcher(verifier=BearerAuth(TOKEN), store=MemoryStore())

    @dispatcher.on_any
    def no_op(event: Event) -> None:
        """The handler: nothing, so that only the receiving is measured."""

    return dispatcher


def _asgi() -> Any:
    from idwise_events.adapters import asgi as adapter

    webhooks = adapter.app(_dispatcher())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != BARE_PATH:
            await webhooks(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        json.loads(body)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PROCESSED})

    return app


def _fastapi() -> Any:
    from fastapi import FastAPI, Request, Response

    from idwise_events.adapters.fastapi import router

    app = FastAPI()
    app.include_router(router(_dispatcher(), path=ADAPTER_PATH))

    async def bare(request: Request) -> Response:
        json.loads(await request.body())
        return Response(PROCESSED, media_type="application/json")

    # Postponed annotations name classes imported in this function: FastAPI needs the objects.
    bare.__annotations__ = {"request": Request, "return": Response}
    app.post(BARE_PATH)(bare)
    return app


def _wsgi() -> Any:
    from idwise_events.adapters import wsgi as adapter

    webhooks = adapter.app(_dispatcher())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] != BARE_PATH:
            return webhooks(environ, start_response)
        json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(PROCESSED)))]
        start_response("200 OK", headers)
        return [PROCESSED]

    return app


def _flask() -> Any:
    import flask

    from idwise_events.adapters.flask import blueprint

    app = flask.Flask(__name__)
    app.register_blueprint(blueprint(_dispatcher(), path=ADAPTER_PATH))

    @app.post(BARE_PATH)
    def bare() -> flask.Response:
        json.loads(flask.request.get_data())
        return flask.Response(PROCESSED, mimetype="application/json")

    return app


def _django() -> Any:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",  # noqa: S106 -- a throwaway benchmark app
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _django_urls() -> list[Any]:
    from django.http import HttpRequest, HttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from idwise_events.adapters.django import view

    @csrf_exempt
    def bare(request: HttpRequest) -> HttpResponse:
        json.loads(request.body)
        return HttpResponse(PROCESSED, content_type="application/json")

    return [path(ADAPTER_PATH[1:], view(_dispatcher())), path(BARE_PATH[1:], bare)]


def aiohttp_app(argv: list[str] | None = None) -> Any:
    """The aiohttp application (``python -m aiohttp.web adapter_apps:aiohttp_app``)."""
    import logging

    from aiohttp import web

    # ``python -m aiohttp.web`` logs everything, from DEBUG up; the other servers run with
    # warnings only (no access log): so does this one, or its rows would measure logging.
    logging.getLogger().setLevel(logging.WARNING)

    from idwise_events.adapters.aiohttp import route

    async def bare(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(body=PROCESSED, content_type="application/json")

    app = web.Application()
    app.add_routes([route(_dispatcher(), path=ADAPTER_PATH), web.post(BARE_PATH, bare)])
    return app


_BUILDERS = {
    "asgi": _asgi,
    "fastapi_app": _fastapi,
    "wsgi": _wsgi,
    "flask_app": _flask,
    "django_app": _django,
}


def __getattr__(name: str) -> Any:
    """Build only the app a server asks for (each imports its own framework)."""
    if name == "urlpatterns":  # Django's URLconf is this module too
        return _django_urls()
    if name in _BUILDERS:
        return _BUILDERS[name]()
    raise AttributeError(name)
