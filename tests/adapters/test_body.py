"""Reading the body up to the limit, and the one parser of ``Content-Length`` the adapters share."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from idwise_events import Dispatcher, NoAuth
from idwise_events._request import parse_content_length
from idwise_events.adapters._body import ClientDisconnected, read_stream, read_wsgi
from idwise_events.adapters.wsgi import app


@pytest.mark.parametrize(
    ("value", "length"),
    [
        ("123", 123),
        (b"123", 123),
        (123, 123),
        ("0", 0),
        (None, None),
        ("", None),
        ("-1", None),
        (-1, None),
        ("1e3", None),
        (" 12", None),
        ("²", None),  # superscript two: str.isdigit() says yes, int() raises
        ("①", None),  # circled one: the same
        ("١٢٣", None),  # Arabic-Indic digits: int() reads 123
        ("\uff11\uff12", None),  # fullwidth digits: int() reads 12
        ("0" * 5000 + "7", 7),  # leading zeros: the length is what they lead
        ("9" * 18, 10**18 - 1),
        ("1" + "0" * 18, 10**18),  # 19 digits and more: past any limit, not read exactly
        ("9" * 5000, 10**18),  # int() refuses past 4,300 digits: this was a 500
    ],
)
def test_only_ascii_digits_are_a_content_length(value: Any, length: int | None) -> None:
    """A length is ASCII digits (RFC 9110); anything else announces no length."""
    assert parse_content_length(value) == length


@pytest.mark.parametrize("value", ["²", "①", "١٢٣٤٥٦٧"])
def test_early_response_takes_a_non_ascii_content_length_as_none(value: str) -> None:
    """No exception out of early_response, and no 413 for digits no server sends as a length."""
    dispatcher = Dispatcher(verifier=NoAuth(), max_body_bytes=100)

    assert dispatcher.early_response("POST", value) is None


@pytest.mark.parametrize("value", ["²", "١٢٣"])
def test_the_wsgi_app_reads_no_body_for_a_non_ascii_content_length(value: str) -> None:
    """Neither a 500 (``²``) nor 123 bytes read for ``١٢٣``: the body announces no length."""
    body = b'{"event": "Journey Archived", "body": {"eventId": "' + b"e" * 69 + b'"}}'
    assert len(body) == 123  # what ١٢٣ used to be read as: a whole, valid delivery
    dispatcher = Dispatcher(verifier=NoAuth())
    seen: list[object] = []
    dispatcher.on_unknown(seen.append)
    started: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": value,
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "192.0.2.1",
    }

    app(dispatcher)(environ, lambda status, headers: started.append(status))  # type: ignore[arg-type]

    assert started == ["400 Bad Request"]
    assert seen == []


def test_a_content_length_of_thousands_of_digits_is_413_not_a_crash() -> None:
    """Before authentication, from anyone: wsgiref and werkzeug pass such a header on."""
    dispatcher = Dispatcher(verifier=NoAuth())
    started: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": "9" * 5000,
        "wsgi.input": io.BytesIO(b"{}"),
        "REMOTE_ADDR": "192.0.2.1",
    }

    app(dispatcher)(environ, lambda status, headers: started.append(status))  # type: ignore[arg-type]

    assert [status.split()[0] for status in started] == ["413"]  # the phrase depends on Python


def test_read_stream_stops_one_byte_past_the_limit() -> None:
    """max_bytes + 1 bytes of a longer stream: enough to tell it is over, and no more."""
    stream = io.BytesIO(b"x" * 1_000_000)

    assert len(read_stream(stream.read, None, 70_000)) == 70_001
    assert stream.tell() == 70_001


def test_read_stream_never_reads_past_the_announced_length() -> None:
    """Content-Length bytes only: reading on could wait for bytes that never come."""
    stream = io.BytesIO(b"x" * 100)

    assert read_stream(stream.read, 10, 70_000) == b"x" * 10
    assert stream.tell() == 10


def test_a_stream_that_breaks_off_is_client_disconnected_still_an_os_error() -> None:
    """What the servers raise (gunicorn's NoMoreData is an OSError) keeps its kind for callers."""

    def broken(size: int) -> bytes:
        raise ConnectionResetError("the client went away")

    with pytest.raises(ClientDisconnected) as caught:
        read_stream(broken, None, 1024)

    assert isinstance(caught.value, OSError)
    assert isinstance(caught.value.__cause__, ConnectionResetError)


def test_a_stream_that_ends_before_its_announced_length_is_client_disconnected() -> None:
    """WSGI servers hand over what came before the client closed: not a body to dispatch."""
    stream = io.BytesIO(b'{"event": ')

    with pytest.raises(ClientDisconnected, match="after 10 of 1000 bytes"):
        read_stream(stream.read, 1000, 70_000)
    assert read_stream(io.BytesIO(b"x" * 10).read, 10, 70_000) == b"x" * 10  # all of it: fine


@pytest.mark.parametrize("announced", [5, 500], ids=["shorter", "longer"])
def test_a_chunked_wsgi_body_announcing_a_length_too_is_read_by_its_chunks(announced: int) -> None:
    """As werkzeug hands it over: the de-chunked body, and the Content-Length the client sent."""
    body = b'{"event": "Journey Archived", "body": {"eventId": "a-1"}}'
    environ = {
        "CONTENT_LENGTH": str(announced),
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input_terminated": True,
        "wsgi.input": io.BytesIO(body),
    }

    assert read_wsgi(environ, 70_000) == body


def test_a_django_request_short_of_its_length_is_a_quiet_400_in_both_views() -> None:
    """A client gone mid-body under a WSGI server: 400, nothing dispatched, in `async_view` too."""
    from django.core.handlers.wsgi import WSGIRequest

    from idwise_events.adapters.django import handle, handle_async

    dispatcher = Dispatcher(verifier=NoAuth())
    seen: list[object] = []
    dispatcher.on_any(seen.append)
    dispatcher.on_invalid(lambda *args: seen.append(args))

    def cut_short() -> WSGIRequest:
        return WSGIRequest(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/webhooks/idwise",
                "SERVER_NAME": "testserver",
                "SERVER_PORT": "80",
                "wsgi.url_scheme": "http",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": "1000",
                "wsgi.input": io.BytesIO(b'{"event": '),
            }
        )

    answers = [handle(cut_short(), dispatcher), asyncio.run(handle_async(cut_short(), dispatcher))]

    assert [(answer.status_code, answer.content) for answer in answers] == [(400, b"")] * 2
    assert seen == []
