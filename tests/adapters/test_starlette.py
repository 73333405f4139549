"""The Starlette and FastAPI adapters' converters, and what FastAPI documents."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.types import Message

from idwise_events import BearerAuth, Dispatcher, Outcome, WebhookResponse, json_schema
from idwise_events.adapters.fastapi import router
from idwise_events.adapters.starlette import to_response, to_webhook_request

RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'


def starlette_request(chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> Request:
    """A real Starlette Request over an ASGI scope whose body arrives in ``chunks``."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/idwise",
        "headers": headers,
        "client": ("203.0.113.9", 51000),
        "query_string": b"",
    }
    return Request(scope, receive)


def test_to_webhook_request_keeps_the_exact_bytes_repeated_headers_and_peer() -> None:
    """Chunks are joined as received; repeated headers stay apart; client_ip is the peer."""
    request = starlette_request(
        [RAW[:10], RAW[10:]],
        [
            (b"authorization", b"Bearer t"),
            (b"x-forwarded-for", b"198.51.100.1"),
            (b"x-forwarded-for", b"203.0.113.1"),
        ],
    )

    converted = asyncio.run(to_webhook_request(request))

    assert converted.body == RAW
    assert converted.header("Authorization") == "Bearer t"
    assert converted.header_values("x-forwarded-for") == ("198.51.100.1", "203.0.113.1")
    assert converted.client_ip == "203.0.113.9"


def test_to_response_carries_status_headers_and_body() -> None:
    """Status, every header and the body reach Starlette's response unchanged."""
    response = to_response(WebhookResponse(405, b"{}", {"Allow": "POST", "X-A": "b"}))

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["x-a"] == "b"
    assert response.body == b"{}"


def test_fastapi_documents_only_the_post_operation() -> None:
    """The router answers every method, but the OpenAPI schema shows just the POST."""
    app = FastAPI()
    app.include_router(
        router(Dispatcher(verifier=BearerAuth("t")), path="/hooks/kyc", tags=["kyc"])
    )

    operations = app.openapi()["paths"]["/hooks/kyc"]

    assert list(operations) == ["post"]
    assert operations["post"]["tags"] == ["kyc"]


def test_fastapi_documents_the_envelope_and_every_status_of_the_policy() -> None:
    """The envelope's JSON Schema, self-contained, as the body; every status with its outcomes.

    The statuses are the dispatcher's own: 401 made 403 here shows as 403.
    """
    dispatcher = Dispatcher(verifier=BearerAuth("t"), statuses={Outcome.UNAUTHORIZED: 403})
    app = FastAPI()
    app.include_router(router(dispatcher))

    document = app.openapi()
    operation = document["paths"]["/webhooks/idwise"]["post"]

    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert [choice["title"] for choice in schema["oneOf"]] == [
        json_schema()["$defs"][ref["$ref"].split("/")[-1]]["title"]
        for ref in json_schema()["oneOf"]
    ]
    assert operation["requestBody"]["required"] is True
    assert "#/$defs/" not in json.dumps(document)  # nothing points outside the document
    assert sorted(operation["responses"]) == ["200", "400", "403", "409", "413", "500", "503"]
    outcomes = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert outcomes["properties"]["outcome"]["enum"] == ["processed", "accepted", "duplicate"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]


def test_fastapi_router_refuses_dependencies_it_would_not_run() -> None:
    """The route answers without FastAPI's machinery: a dependency given to it is an error."""
    with pytest.raises(TypeError, match="dependencies"):
        router(Dispatcher(verifier=BearerAuth("t")), dependencies=[Depends(lambda: None)])
