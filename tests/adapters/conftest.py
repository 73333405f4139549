"""Every adapter behind one client interface, each driven through its framework's own test client.

`serve(dispatcher)` mounts the dispatcher with one adapter and returns a function that sends one
request and returns what came back, so one contract suite runs over all of them.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from idwise_events import Dispatcher

PATH = "/webhooks/idwise"


@dataclass
class Reply:
    """What an adapter answered: status, headers (lowercase names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


Send = Callable[[str, bytes, dict[str, str]], Reply]
"""Send one request (method, body, headers) to the mounted dispatcher."""
Serve = Callable[[Dispatcher, ExitStack], Send]
"""Mount a dispatcher with an adapter; what must be closed afterwards goes on the stack."""


def lowercase(headers: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def serve_flask(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    import flask

    from idwise_events.adapters.flask import blueprint

    app = flask.Flask("contract")
    app.register_blueprint(blueprint(dispatcher, path=PATH))
    client = app.test_client()

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = client.open(PATH, method=method, data=body, headers=headers)
        return Reply(response.status_code, lowercase(response.headers), response.get_data())

    return send


def serve_django(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    """The adapter's view through Django's test client, in the suite's Django project."""
    from idwise_events.adapters.django import view

    return serve_django_view(view(dispatcher))


def serve_django_view(webhook: Any) -> Send:
    """A Django view at PATH, in the URLconf of the suite's project (tests/django_project)."""
    from django.test import Client
    from django.urls import clear_url_caches, path

    from . import django_urls

    django_urls.urlpatterns[:] = [path(PATH.lstrip("/"), webhook)]
    clear_url_caches()
    client = Client(enforce_csrf_checks=True)  # the view must be exempt on its own

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        content_type = headers.get("Content-Type", "application/octet-stream")
        others = {name: value for name, value in headers.items() if name != "Content-Type"}
        response = client.generic(
            method, PATH, data=body, content_type=content_type, headers=others
        )
        return Reply(response.status_code, lowercase(response.headers), response.content)

    return send


def serve_django_async_view(webhook: Any) -> Send:
    """An async Django view at PATH through Django's AsyncClient, as an ASGI server calls it."""
    from django.test import AsyncClient
    from django.urls import clear_url_caches, path

    from . import django_urls

    django_urls.urlpatterns[:] = [path(PATH.lstrip("/"), webhook)]
    clear_url_caches()
    client = AsyncClient(enforce_csrf_checks=True)

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        content_type = headers.get("Content-Type", "application/octet-stream")
        others = {name: value for name, value in headers.items() if name != "Content-Type"}

        async def request() -> Reply:
            response = await client.generic(
                method, PATH, data=body, content_type=content_type, headers=others
            )
            return Reply(response.status_code, lowercase(response.headers), response.content)

        return asyncio.run(request())

    return send


def serve_django_async(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    from idwise_events.adapters.django import async_view

    return serve_django_async_view(async_view(dispatcher))


def serve_django_app(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    """The Django app's view (idwise_events.contrib.django) for this dispatcher."""
    from idwise_events.contrib.django.views import webhook_view

    return serve_django_view(webhook_view(dispatcher, asynchronous=False))


def serve_django_app_async(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    from idwise_events.contrib.django.views import webhook_view

    return serve_django_async_view(webhook_view(dispatcher, asynchronous=True))


def serve_asgi_app(app: Any) -> Send:
    """Through Starlette's TestClient (httpx, in-process), for Starlette and FastAPI apps."""
    from starlette.testclient import TestClient

    client = TestClient(app)

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        response = client.request(method, PATH, content=body, headers=headers)
        return Reply(response.status_code, lowercase(response.headers), response.content)

    return send


def serve_starlette(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    from starlette.applications import Starlette

    from idwise_events.adapters.starlette import route

    return serve_asgi_app(Starlette(routes=[route(dispatcher, path=PATH)]))


def serve_fastapi(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    from fastapi import FastAPI

    from idwise_events.adapters.fastapi import router

    app = FastAPI()
    app.include_router(router(dispatcher, path=PATH))
    return serve_asgi_app(app)


def serve_aiohttp(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    """The aiohttp TestServer on loopback, driven from sync tests through a private event loop."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from idwise_events.adapters.aiohttp import route

    app = web.Application()
    app.add_routes([route(dispatcher, path=PATH)])
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    client = TestClient(TestServer(app, host="127.0.0.1"), loop=loop)
    loop.run_until_complete(client.start_server())
    stack.callback(lambda: loop.run_until_complete(client.close()))

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        async def request() -> Reply:
            # A BytesIO, as aiohttp asks for bodies of a megabyte and more.
            data = io.BytesIO(body)
            async with client.request(method, PATH, data=data, headers=headers) as response:
                return Reply(response.status, lowercase(response.headers), await response.read())

        return loop.run_until_complete(request())

    return send


def lambda_event(shape: str, method: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The proxy event Lambda would pass for this request, in one of its three shapes."""
    if shape == "rest-v1":  # API Gateway REST API: text body, multiValueHeaders
        return {
            "resource": PATH,
            "path": PATH,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "body": body.decode("utf-8", "surrogateescape") if body else None,
            "isBase64Encoded": False,
            "requestContext": {"httpMethod": method, "identity": {"sourceIp": "203.0.113.7"}},
        }
    domain = "abc.lambda-url.eu-west-1.on.aws" if shape == "function-url" else "api.example.com"
    return {  # HTTP API v2 and function URLs: lowercase headers, base64 body
        "version": "2.0",
        "rawPath": PATH,
        "headers": {name.lower(): value for name, value in headers.items()},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
        "requestContext": {
            "domainName": domain,
            "http": {"method": method, "path": PATH, "sourceIp": "203.0.113.7"},
        },
    }


def serve_lambda(shape: str) -> Serve:
    def serve(dispatcher: Dispatcher, stack: ExitStack) -> Send:
        from idwise_events.adapters.aws_lambda import lambda_handler

        handler = lambda_handler(dispatcher)

        def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
            result = handler(lambda_event(shape, method, body, headers), None)
            raw = result["body"]
            content = base64.b64decode(raw) if result["isBase64Encoded"] else raw.encode()
            return Reply(result["statusCode"], lowercase(result["headers"]), content)

        return send

    return serve


def serve_wsgi(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    from werkzeug.test import Client

    from idwise_events.adapters.wsgi import app

    client = Client(app(dispatcher))

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        # Every WSGI server sets REMOTE_ADDR; werkzeug's bare test client does not.
        response = client.open(
            PATH,
            method=method,
            data=body,
            headers=headers,
            environ_base={"REMOTE_ADDR": "192.0.2.10"},
        )
        return Reply(response.status_code, lowercase(response.headers), response.get_data())

    return send


def serve_asgi(dispatcher: Dispatcher, stack: ExitStack) -> Send:
    import httpx

    from idwise_events.adapters.asgi import app

    transport = httpx.ASGITransport(app=app(dispatcher))

    def send(method: str, body: bytes, headers: dict[str, str]) -> Reply:
        async def request() -> Reply:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                response = await client.request(method, PATH, content=body, headers=headers)
                return Reply(response.status_code, lowercase(response.headers), response.content)

        return asyncio.run(request())

    return send


ADAPTERS: dict[str, Serve] = {
    "flask": serve_flask,
    "django": serve_django,
    "django-async": serve_django_async,
    "django-app": serve_django_app,
    "django-app-async": serve_django_app_async,
    "starlette": serve_starlette,
    "fastapi": serve_fastapi,
    "aiohttp": serve_aiohttp,
    "lambda-rest-v1": serve_lambda("rest-v1"),
    "lambda-http-v2": serve_lambda("http-v2"),
    "lambda-function-url": serve_lambda("function-url"),
    "wsgi": serve_wsgi,
    "asgi": serve_asgi,
}


Mount = Callable[[Dispatcher], Send]


@pytest.fixture(params=list(ADAPTERS))
def mount(request: pytest.FixtureRequest) -> Iterator[Mount]:
    """Mount a dispatcher with one adapter (each in turn); returns the function to send with."""
    with ExitStack() as stack:
        yield lambda dispatcher: ADAPTERS[request.param](dispatcher, stack)
