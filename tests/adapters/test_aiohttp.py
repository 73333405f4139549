"""The aiohttp adapter's converters, on a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from idwise_events import Dispatcher, FinishedJourney, NoAuth, WebhookResponse
from idwise_events.adapters import DEFAULT_PATH
from idwise_events.adapters.aiohttp import route, to_response, to_webhook_request
from idwise_events.testing import make_event

RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'


def test_to_webhook_request_keeps_the_exact_bytes_repeated_headers_and_peer() -> None:
    """What a real aiohttp request converts to: exact bytes, every header value, the peer."""

    async def echo(request: web.Request) -> web.Response:
        converted = await to_webhook_request(request)
        return web.json_response(
            {
                "body": converted.body.hex(),
                "forwarded": converted.header_values("X-Forwarded-For"),
                "authorization": converted.header("authorization"),
                "client_ip": converted.client_ip,
            }
        )

    async def main() -> dict[str, object]:
        app = web.Application()
        app.router.add_post("/", echo)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            headers = [
                ("Authorization", "Bearer t"),
                ("X-Forwarded-For", "198.51.100.1"),
                ("X-Forwarded-For", "203.0.113.1"),
            ]
            response = await client.post("/", data=RAW, headers=headers)
            seen: dict[str, object] = json.loads(await response.read())
            return seen

    seen = asyncio.run(main())

    assert bytes.fromhex(str(seen["body"])) == RAW
    assert seen["forwarded"] == ["198.51.100.1", "203.0.113.1"]
    assert seen["authorization"] == "Bearer t"
    assert seen["client_ip"] == "127.0.0.1"


def test_to_response_carries_status_headers_and_body() -> None:
    """Status, every header and the body reach aiohttp's response unchanged."""
    response = to_response(WebhookResponse(409, b"{}", {"Retry-After": "3", "X-A": "b"}))

    assert response.status == 409
    assert response.headers["Retry-After"] == "3"
    assert response.headers["X-A"] == "b"
    assert response.body == b"{}"


def test_a_body_a_middleware_read_first_is_still_delivered() -> None:
    """A middleware that awaited request.read() leaves the body to aiohttp: the adapter uses it."""
    dispatcher = Dispatcher(verifier=NoAuth())
    seen: list[object] = []
    dispatcher.on_any(seen.append)

    @web.middleware
    async def reads_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        await request.read()
        return await handler(request)

    async def main() -> int:
        app = web.Application(middlewares=[reads_first])
        app.add_routes([route(dispatcher)])
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
            response = await client.post(DEFAULT_PATH, data=body)
            status: int = response.status
            return status

    assert asyncio.run(main()) == 200
    assert len(seen) == 1
