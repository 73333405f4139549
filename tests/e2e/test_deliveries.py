"""The adapter contract's cases against real servers: uvicorn (ASGI app), gunicorn (WSGI app).

Each runs against every `server` (both kinds, several workers each, on SQLite and PostgreSQL),
over real TCP connections on 127.0.0.1 with httpx.
"""

from __future__ import annotations

import json
import socket
import uuid

import httpx

from idwise_events import FinishedJourney
from idwise_events.testing import make_event

from .conftest import HEADERS, PATH, Server

TIMEOUT = 10.0  # seconds: a bound for every exchange, never a measurement
ANNOUNCED = 10**9  # a Content-Length far over MAX_BODY_BYTES: reading it would take ages


def new_delivery() -> tuple[bytes, str]:
    """A fresh event's wire body and its idempotency key."""
    event = make_event(FinishedJourney)
    return event.model_dump_json(by_alias=True).encode(), event.idempotency_key


def post(server: Server, body: bytes, headers: dict[str, str] = HEADERS) -> httpx.Response:
    return httpx.post(server.url, content=body, headers=headers, timeout=TIMEOUT)


def outcome(response: httpx.Response) -> str:
    content: dict[str, str] = response.json()
    return content["outcome"]


def test_an_authenticated_event_is_processed_once(server: Server) -> None:
    """200 processed, and the handler ran once for the event."""
    body, key = new_delivery()

    response = post(server, body)

    assert (response.status_code, outcome(response)) == (200, "processed")
    assert response.headers["content-type"] == "application/json"
    assert server.runs(key) == 1


def test_the_same_delivery_again_is_acknowledged_without_a_second_run(server: Server) -> None:
    """200 twice (processed, then duplicate), whichever worker gets each; the handler ran once."""
    body, key = new_delivery()

    first, again = post(server, body), post(server, body)

    assert (first.status_code, outcome(first)) == (200, "processed")
    assert (again.status_code, outcome(again)) == (200, "duplicate")
    assert server.runs(key) == 1


def test_wrong_credentials_get_401(server: Server) -> None:
    """401, and the handler did not run."""
    body, key = new_delivery()

    response = post(server, body, {**HEADERS, "Authorization": "Bearer guessed"})

    assert (response.status_code, outcome(response)) == (401, "unauthorized")
    assert server.runs(key) == 0


def test_a_malformed_body_gets_400(server: Server) -> None:
    """400 with the reason, and the handler did not run."""
    runs = server.runs()

    response = post(server, b'{"event": "Finished Journey"')

    assert (response.status_code, outcome(response)) == (400, "invalid")
    assert response.json()["detail"].startswith("payload is not valid JSON")
    assert server.runs() == runs


def test_an_unknown_event_gets_200(server: Server) -> None:
    """200, so that IDWise stops retrying an event type this version does not know."""
    event_id = str(uuid.uuid4())
    body = json.dumps({"event": "Journey Archived", "body": {"eventId": event_id}}).encode()

    response = post(server, body)

    assert (response.status_code, outcome(response)) == (200, "processed")
    assert server.runs(event_id) == 1


def test_a_handler_error_gets_500_and_the_retry_runs_it_again(server: Server) -> None:
    """500, then 200 for the retry (from any worker), which ran the handler a second time."""
    body, key = new_delivery()
    server.fail_next_run()

    failed, retried = post(server, body), post(server, body)

    assert (failed.status_code, outcome(failed)) == (500, "handler_failed")
    assert (retried.status_code, outcome(retried)) == (200, "processed")
    assert server.runs(key) == 2


def test_an_oversized_content_length_gets_413_without_the_body_being_read(server: Server) -> None:
    """413 arrives although the announced gigabyte body was never sent, so nothing waited for it."""
    runs = server.runs()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {HEADERS['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {ANNOUNCED}\r\n\r\n"
    )

    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as connection:
        connection.sendall(head.encode("ascii"))
        # A server reading the body first would leave this waiting until the timeout fails it.
        reply = receive_response(connection)

    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {"outcome": "too_large"}
    assert server.runs() == runs


def test_get_gets_405(server: Server) -> None:
    """405 with Allow: POST, answered by the dispatcher; the handler did not run."""
    runs = server.runs()

    response = httpx.get(server.url, timeout=TIMEOUT)

    assert (response.status_code, outcome(response)) == (405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert server.runs() == runs


def receive_response(connection: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body) from a raw connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive_some(connection)
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    ]
    assert lengths, f"no Content-Length in {head!r}"
    while len(body) < lengths[0]:
        body += receive_some(connection)
    return data.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body


def receive_some(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)  # bounded by the socket's timeout
    assert chunk, "the server closed the connection before answering in full"
    return chunk
