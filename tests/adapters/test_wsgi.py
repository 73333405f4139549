"""The WSGI app's converters: raw body (bounded when chunked), headers from environ, status line."""

from __future__ import annotations

import io
from typing import Any

from werkzeug.test import EnvironBuilder

from idwise_events import WebhookResponse
from idwise_events.adapters.wsgi import to_response, to_webhook_request

RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'


def test_to_webhook_request_reads_content_length_bytes_headers_and_peer() -> None:
    """Exactly Content-Length bytes; HTTP_* and CONTENT_* become headers; REMOTE_ADDR the peer."""
    environ = EnvironBuilder(
        method="POST",
        data=RAW,
        headers=[("Authorization", "Bearer t"), ("X-Api-Key", "k")],
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    ).get_environ()

    request = to_webhook_request(environ)

    assert request.body == RAW
    assert request.header("authorization") == "Bearer t"
    assert request.header("x-api-key") == "k"
    assert request.header("content-type") == "application/json"
    assert request.header("content-length") == str(len(RAW))
    assert request.client_ip == "203.0.113.9"


def chunked_environ(body: bytes, *, terminated: bool) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": terminated,
        "HTTP_TRANSFER_ENCODING": "chunked",
    }


def test_a_chunked_body_is_read_only_up_to_one_byte_past_the_limit() -> None:
    """Without Content-Length the server's terminated stream is read, but never past the limit."""
    body = b"x" * 1000

    assert to_webhook_request(chunked_environ(body, terminated=True)).body == body
    bounded = to_webhook_request(chunked_environ(body, terminated=True), max_bytes=100)
    assert bounded.body == body[:101]  # enough to know it is over the limit


def test_a_body_of_unknown_length_on_an_unterminated_stream_is_not_read() -> None:
    """PEP 3333: without Content-Length and input_terminated, reading could block forever."""
    assert to_webhook_request(chunked_environ(b"{}", terminated=False)).body == b""


def test_to_response_gives_a_status_line_headers_with_length_and_the_body() -> None:
    """The status line has its reason phrase (or 'Unknown' for a status of your own)."""
    status, headers, body = to_response(WebhookResponse(409, b"{}", {"Retry-After": "3"}))

    assert status == "409 Conflict"
    assert headers == [("Retry-After", "3"), ("Content-Length", "2")]
    assert body == b"{}"
    assert to_response(WebhookResponse(299))[0] == "299 Unknown"
