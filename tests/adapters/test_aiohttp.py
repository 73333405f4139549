"""The aiohttp adapter's converters, on a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from idwise_events import WebhookResponse
from idwise_events.adapters.aiohttp import to_response, to_webhook_request

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
