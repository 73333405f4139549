"""The POST both send commands make (`testing._sender`), against receivers that misbehave.

Each receiver is a real socket on 127.0.0.1 that reads the request, then answers in its own way:
an endless answer, a trickle, a redirect to a malformed place.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import pytest

from idwise_events import __version__
from idwise_events.testing._sender import (
    MAX_ANSWER_BYTES,
    NoAnswerError,
    _proxy_for,
    post,
    split_url,
)

WAIT = 60.0  # seconds: the longest a receiver keeps going on its own


@contextmanager
def receiver(
    answer: Callable[[socket.socket], None], received: list[bytes] | None = None
) -> Iterator[str]:
    """A one-connection receiver: it reads the request's head, then ``answer`` writes.

    The head goes into ``received``, if given.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    received = [] if received is None else received

    def serve() -> None:
        with suppress(OSError), listener.accept()[0] as connection:
            connection.settimeout(WAIT)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65_536:
                head += connection.recv(4096)
            received.append(head)
            answer(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=WAIT)


def endless(connection: socket.socket) -> None:
    """200, then a body that goes on until the client hangs up (or 256 MiB)."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n")
    chunk = b"x" * 65_536
    for _ in range(4096):
        connection.sendall(chunk)


def trickle(connection: socket.socket) -> None:
    """200, then one byte of body every tenth of a second, until the client hangs up."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        connection.sendall(b"x")
        time.sleep(0.1)


def trickled_head(connection: socket.socket) -> None:
    """The status line and headers themselves, a byte at a time."""
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"y" * 60_000 + b"\r\n\r\n"
    for byte in head[: int(WAIT * 10)]:
        connection.sendall(bytes([byte]))
        time.sleep(0.1)


def test_an_endless_answer_is_read_only_up_to_the_limit() -> None:
    """Only the status and a short message are shown: the rest is never read into memory."""
    with receiver(endless) as url:
        answer = post(url + "/", b"{}", {}, timeout=WAIT)

    assert (answer.status, len(answer.body)) == (200, MAX_ANSWER_BYTES)


@pytest.mark.parametrize("answer", [trickle, trickled_head], ids=["body", "headers"])
def test_the_timeout_bounds_the_whole_answer_not_each_read(
    answer: Callable[[socket.socket], None],
) -> None:
    """A byte every tenth of a second keeps each read short: the exchange still ends."""
    with receiver(answer) as url, pytest.raises(NoAnswerError, match="no answer within 1 s"):
        post(url + "/", b"{}", {}, timeout=1)


def test_a_malformed_location_is_the_answer_as_sent() -> None:
    """A redirect's Location is shown as it came, however malformed; it is never followed."""
    location = "http://evil\x1b[31m.example:99999/"

    def redirect(connection: socket.socket) -> None:
        connection.sendall(
            b"HTTP/1.1 301 Moved\r\nLocation: "
            + location.encode()
            + b"\r\nContent-Length: 0\r\n\r\n"
        )

    with receiver(redirect) as url:
        answer = post(url + "/", b"{}", {}, timeout=WAIT)

    assert (answer.status, answer.location, answer.redirected) == (301, location, True)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("http://127.0.0.1/café?q=é", "http://127.0.0.1/caf%C3%A9?q=%C3%A9"),
        ("http://127.0.0.1/a%20b?x=%C3%A9", "http://127.0.0.1/a%20b?x=%C3%A9"),
        ("http://127.0.0.1/\udcff", "http://127.0.0.1/%FF"),  # a byte that is not UTF-8
    ],
    ids=["non-ascii", "already-encoded", "not-utf8"],
)
def test_what_a_request_line_cannot_carry_is_percent_encoded(url: str, sent: str) -> None:
    """A path or query with accents (or raw bytes from a shell) is sent as a browser would."""
    assert split_url(url) == (sent, None)


@pytest.mark.parametrize("host", ["ex\udcffample.com", "exa mple.com", "exa\x1bmple.com"])
def test_a_host_dns_cannot_carry_is_refused(host: str) -> None:
    """Raw bytes, a space or a control character in the host: a usage error, not a crash."""
    with pytest.raises(ValueError, match="URL with a host"):
        split_url(f"http://{host}/")


def test_the_request_says_who_sends_it_unless_told() -> None:
    """A User-Agent (some firewalls refuse requests without one), which the caller may set."""
    heads: list[bytes] = []

    def record(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    for headers in ({}, {"User-Agent": "mine"}):
        with receiver(record, heads) as url:
            post(url + "/", b"{}", headers, timeout=WAIT)

    assert f"User-Agent: idwise-events/{__version__}".encode() in heads[0]
    assert b"User-Agent: mine" in heads[1]
    assert b"idwise-events/" not in heads[1]


PROXY_VARIABLES = ["http_proxy", "https_proxy", "no_proxy", "all_proxy"]


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without proxy variables, in either case, for the test to set its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_plain_http_goes_through_the_environments_proxy_with_its_credentials(
    no_proxies: pytest.MonkeyPatch,
) -> None:
    """As curl sends it: the whole URL as the target, the proxy's own Basic credentials."""
    heads: list[bytes] = []

    def proxy(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with receiver(proxy, heads) as proxy_url:
        no_proxies.setenv("http_proxy", proxy_url.replace("http://", "http://me:s%40cret@"))
        answer = post("http://webhooks.example.invalid/hook?x=é", b"{}", {}, timeout=WAIT)

    assert answer.status == 200
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "POST http://webhooks.example.invalid/hook?x=%C3%A9 HTTP/1.1"
    assert "Host: webhooks.example.invalid" in lines
    expected = base64.b64encode(b"me:s@cret").decode()
    assert f"Proxy-Authorization: Basic {expected}" in lines


def test_https_goes_through_a_connect_tunnel(no_proxies: pytest.MonkeyPatch) -> None:
    """The proxy is asked for a tunnel to the host; its refusal is the reason shown."""
    heads: list[bytes] = []

    def refusing(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")

    with receiver(refusing, heads) as proxy_url:
        no_proxies.setenv("https_proxy", proxy_url)
        with pytest.raises(NoAnswerError, match="407"):
            post("https://webhooks.example.invalid/hook", b"{}", {}, timeout=WAIT)

    assert heads[0].startswith(b"CONNECT webhooks.example.invalid:443 HTTP/")


def test_the_timeout_bounds_a_proxys_tunnel(no_proxies: pytest.MonkeyPatch) -> None:
    """A proxy that trickles its answer to CONNECT is given no more than the timeout."""
    with receiver(trickled_head) as proxy_url:
        no_proxies.setenv("https_proxy", proxy_url)
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match="no answer within 1 s"):
            post("https://webhooks.example.invalid/hook", b"{}", {}, timeout=1)

    assert time.monotonic() - started < WAIT / 4


def test_loopback_hosts_go_straight(no_proxies: pytest.MonkeyPatch) -> None:
    """A proxy that would refuse the connection is not used for a receiver on this machine."""
    no_proxies.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there

    def answer(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with receiver(answer) as url:
        assert post(url + "/", b"{}", {}, timeout=WAIT).status == 200


def test_no_proxy_hosts_go_straight(no_proxies: pytest.MonkeyPatch) -> None:
    """``no_proxy`` names the hosts the proxy is not for, as curl reads it."""
    no_proxies.setenv("http_proxy", "http://proxy.example.invalid:3128")
    no_proxies.setenv("no_proxy", "internal.example.invalid")

    assert _proxy_for(urlsplit("http://hooks.internal.example.invalid/")) is None
    assert _proxy_for(urlsplit("http://hooks.example.invalid/")) == (
        "http://proxy.example.invalid:3128"
    )
