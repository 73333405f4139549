"""Apps that real servers load in the chunked-body tests: one per adapter, the same dispatcher.

Each factory is named on a server's command line (``gunicorn 'tests.adapters.served:flask()'``,
``uvicorn --factory tests.adapters.served:starlette``...), so it runs in the server's process.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from idwise_events import BearerAuth, Dispatcher

PATH = "/webhooks/idwise"
TOKEN = "served-token"  # noqa: S105 -- a test's made-up token
LIMIT = 65_536
"""The dispatcher's ``max_body_bytes``: far below the bodies the tests stream."""


def dispatcher() -> Dispatcher:
    """BearerAuth(TOKEN), the default MemoryStore, max_body_bytes=LIMIT; a no-op handler."""
    webhooks = Dispatcher(verifier=BearerAuth(TOKEN), max_body_bytes=LIMIT)
    webhooks.on_any(lambda event: None)
    return webhooks


def flask() -> Any:
    import flask as framework

    from idwise_events.adapters.flask import blueprint

    app = framework.Flask("served")
    app.register_blueprint(blueprint(dispatcher(), path=PATH))
    return app


def wsgi() -> Any:
    from idwise_events.adapters.wsgi import app

    return app(dispatcher())


def django() -> Any:
    """The synchronous view at PATH in the suite's Django project, as gunicorn serves Django."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_project.settings")
    import django as framework
    from django.core.wsgi import get_wsgi_application
    from django.urls import path

    from idwise_events.adapters.django import view

    framework.setup()
    from . import django_urls

    django_urls.urlpatterns[:] = [path(PATH.lstrip("/"), view(dispatcher()))]
    application = get_wsgi_application()  # (sets Django up again, its logging included)
    # Django logs a view's exception only under DEBUG by default: to stderr, as in production.
    logging.getLogger("django.request").addHandler(logging.StreamHandler())
    return application


def django_asgi() -> Any:
    """The async view at PATH in the suite's Django project, as uvicorn serves Django's ASGI."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_project.settings")
    import django as framework
    from django.core.asgi import get_asgi_application
    from django.urls import path

    from idwise_events.adapters.django import async_view

    framework.setup()
    from . import django_urls

    django_urls.urlpatterns[:] = [path(PATH.lstrip("/"), async_view(dispatcher()))]
    application = get_asgi_application()
    logging.getLogger("django.request").addHandler(logging.StreamHandler())
    return application


def starlette() -> Any:
    from starlette.applications import Starlette

    from idwise_events.adapters.starlette import route

    return Starlette(routes=[route(dispatcher(), path=PATH)])


def starlette_handle() -> Any:
    """An endpoint of the user's own that calls `handle` with Starlette's Request."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from idwise_events.adapters.starlette import handle

    webhooks = dispatcher()

    async def endpoint(request: Request) -> Response:
        return await handle(request, webhooks)

    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])


def fastapi() -> Any:
    from fastapi import FastAPI

    from idwise_events.adapters.fastapi import router

    app = FastAPI()
    app.include_router(router(dispatcher(), path=PATH))
    return app


def asgi() -> Any:
    from idwise_events.adapters.asgi import app

    return app(dispatcher())


def aiohttp(argv: list[str] | None = None) -> Any:
    """For ``python -m aiohttp.web``, which passes the rest of its command line."""
    from aiohttp import web

    from idwise_events.adapters.aiohttp import route

    app = web.Application()
    app.add_routes([route(dispatcher(), path=PATH)])
    return app


def hanging() -> Any:
    """The ASGI app on a SqlStore in the SQLite file ``$SERVED_STORE``; its handler never ends.

    The handler creates ``$SERVED_STORE.started`` once it runs, for the test to know.
    """
    import asyncio
    from pathlib import Path

    from idwise_events import Event
    from idwise_events.adapters.asgi import app
    from idwise_events.stores.sql import SqlStore

    path = os.environ["SERVED_STORE"]
    webhooks = Dispatcher(verifier=BearerAuth(TOKEN), store=SqlStore(f"sqlite:///{path}"))

    @webhooks.on_any
    async def hang(event: Event) -> None:
        Path(f"{path}.started").touch()
        await asyncio.sleep(3600)

    return app(webhooks)
