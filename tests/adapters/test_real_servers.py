"""Every adapter under a real server, fed chunked bodies (no ``Content-Length``) over a raw socket.

The servers are the ones the adapters run under in production: gunicorn for Flask, Django and
the WSGI app; uvicorn for Starlette, FastAPI and the ASGI app; aiohttp's own. Each loads its app
from `served` in a process of its own, on loopback.

A sender without credentials must not make the server read more than the dispatcher's limit: an
oversized chunked body gets the dispatcher's 413 while the client is still sending it, whatever
the framework would read on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from idwise_events import FinishedJourney
from idwise_events.testing import make_event

from .served import LIMIT, PATH, TOKEN

ROOT = Path(__file__).parents[2]
STREAMED = 32 * 1024 * 1024
"""Bytes an oversized body would have: more than loopback's socket buffers hold (a few MiB)."""
CHUNK = 65_536
TIMEOUT = 30.0

SERVERS: dict[str, list[str]] = {
    "flask": ["gunicorn", "tests.adapters.served:flask()"],
    "django": ["gunicorn", "tests.adapters.served:django()"],
    "wsgi": ["gunicorn", "tests.adapters.served:wsgi()"],
    "django-asgi": ["uvicorn", "--factory", "tests.adapters.served:django_asgi"],
    "starlette": ["uvicorn", "--factory", "tests.adapters.served:starlette"],
    "starlette-handle": ["uvicorn", "--factory", "tests.adapters.served:starlette_handle"],
    "fastapi": ["uvicorn", "--factory", "tests.adapters.served:fastapi"],
    "asgi": ["uvicorn", "--factory", "tests.adapters.served:asgi"],
    "aiohttp": ["aiohttp.web", "tests.adapters.served:aiohttp"],
}


def server_command(name: str, port: int) -> list[str]:
    program, *app = SERVERS[name]
    if program == "gunicorn":
        where = ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"]
    elif program == "uvicorn":
        where = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    else:
        where = ["-H", "127.0.0.1", "-P", str(port)]
    return [sys.executable, "-m", program, *where, *app]


@dataclass
class Server:
    """A server running: its port, and the file its error stream goes to."""

    port: int
    log: Path


@contextmanager
def serving(name: str, folder: Path) -> Iterator[Server]:
    """The server for adapter ``name`` on a free loopback port, its errors logged in ``folder``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    log = folder / f"{name}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            server_command(name, port),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not listening(port):
            if process.poll() is not None:
                raise RuntimeError(f"{name} server exited: {log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} server did not start in {TIMEOUT} s")
            time.sleep(0.1)
        yield Server(port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module", params=list(SERVERS))
def port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real server running one adapter (each in turn)."""
    with serving(request.param, tmp_path_factory.mktemp("served")) as server:
        yield server.port


@dataclass
class Answer:
    """What the server answered, and whether the client had sent the whole body by then."""

    status: int
    body: bytes
    sent_all: bool


def post_chunked(port: int, body: Iterator[bytes], headers: dict[str, str]) -> Answer:
    """POST ``body``, chunk by chunk, until it is all sent or the server starts answering."""
    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        sock.setblocking(False)
        pending = b""
        sent_all = False
        for _ in range(STREAMED // CHUNK * 4):  # bounded: far more turns than frames to send
            readable, writable, _ = select.select([sock], [] if sent_all else [sock], [], TIMEOUT)
            if readable or not writable:
                break  # the answer is coming (or nothing happened for TIMEOUT seconds)
            if not pending:
                chunk = next(body, None)
                pending = b"0\r\n\r\n" if chunk is None else b"%x\r\n%s\r\n" % (len(chunk), chunk)
                sent_all = chunk is None
            try:
                pending = pending[sock.send(pending) :]
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed: read what it answered
        sent_all = sent_all and not pending
        sock.setblocking(True)
        return Answer(*_read_answer(sock), sent_all)


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    received = b""
    with suppress(ConnectionResetError):
        while b"\r\n\r\n" not in received:
            data = sock.recv(65_536)
            if not data:
                break
            received += data
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            data = sock.recv(65_536)
            if not data:
                break
            body += data
    status = int(received.split(b" ", 2)[1])
    return status, body


def oversized() -> Iterator[bytes]:
    """STREAMED bytes, made as they are sent (never all in memory)."""
    for _ in range(STREAMED // CHUNK):
        yield b"x" * CHUNK


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", "Bearer forged"])
def test_an_oversized_chunked_body_gets_413_while_it_is_still_being_sent(
    port: int, request: pytest.FixtureRequest, authorization: str
) -> None:
    """Credentials or not: the server stops reading past the limit and answers 413 at once.

    Not under Django's ASGI handler, which reads the whole body before it calls the view (the
    docs say so): it answers 413 once the body has all come.
    """
    headers = {"Content-Type": "application/json", "Authorization": authorization}

    answer = post_chunked(port, oversized(), headers)

    assert (answer.status, json.loads(answer.body)["outcome"]) == (413, "too_large")
    whole_body_first = request.node.callspec.params["port"] == "django-asgi"
    assert answer.sent_all is whole_body_first


def test_a_large_body_without_credentials_gets_401_before_it_is_sent(
    port: int, request: pytest.FixtureRequest
) -> None:
    """Announcing more than half the limit (the served apps': 64 KiB) and not authentic.

    The server answers at once, while most of the body is yet to come: a sender without
    credentials cannot make it take in that much for each connection it keeps open.
    """
    if request.node.callspec.params["port"] == "django-asgi":
        pytest.skip("Django's ASGI handler reads the whole body before it calls the view")
    length = LIMIT - 1000
    head = [
        f"POST {PATH} HTTP/1.1",
        "Host: 127.0.0.1",
        "Authorization: Bearer forged",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + b"x" * 1000)
        status, body = _read_answer(sock)  # the rest of the body is never sent

    assert (status, json.loads(body)["outcome"]) == (401, "unauthorized")


def test_a_valid_chunked_delivery_is_processed(port: int) -> None:
    """A delivery without Content-Length is read to its end and processed, not refused."""
    body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
    pieces = iter([body[:10], body[10:100], body[100:]])
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}

    answer = post_chunked(port, pieces, headers)

    assert (answer.status, json.loads(answer.body)["outcome"]) == (200, "processed")
    assert answer.sent_all


def test_a_chunked_body_just_over_the_limit_gets_413(port: int) -> None:
    """The limit is the dispatcher's to the byte: LIMIT + 1 bytes, sent whole, get 413."""
    pieces = iter([b"x" * (LIMIT // 2), b"x" * (LIMIT // 2 + 1)])

    answer = post_chunked(port, pieces, {"Authorization": f"Bearer {TOKEN}"})

    assert (answer.status, json.loads(answer.body)["outcome"]) == (413, "too_large")


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_client_gone_mid_body_leaves_no_error_in_the_servers_log(
    name: str, tmp_path: Path
) -> None:
    """Part of a chunked body, then the connection closed: no 500, no traceback.

    Nothing was authenticated: anyone could otherwise fill the error log and its alerts.
    """
    head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    with serving(name, tmp_path) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(head.encode() + b"10\r\n" + b"{" * 16 + b"\r\n")
            time.sleep(0.2)  # the server is reading the body
        answer = post_chunked(server.port, iter([body]), headers)  # the server goes on
    log = server.log.read_text()

    assert answer.status == 200
    assert "Traceback" not in log, log


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_body_short_of_its_content_length_is_not_dispatched(name: str, tmp_path: Path) -> None:
    """Content-Length 1000, ten bytes, then the client closes: no one to answer, nothing logged.

    WSGI servers hand the ten bytes over as if they were the whole body: dispatched, they were
    logged as an invalid delivery and given to the on_invalid hooks.
    """
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n"
    )
    body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    with serving(name, tmp_path) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(head.encode() + b'{"event": ')
            sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                sock.recv(4096)  # whatever the server does: answer, or close
        answer = post_chunked(server.port, iter([body]), headers)  # the server goes on
    log = server.log.read_text()

    assert answer.status == 200
    assert "answered 400" not in log, log  # (aiohttp logs the 200 of the next one)
    assert "Traceback" not in log, log


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_chunked_body_that_also_announces_a_length_is_read_by_its_chunks(
    name: str, tmp_path: Path
) -> None:
    """RFC 9112: Transfer-Encoding wins over Content-Length (announced 300, the body is shorter).

    The server de-chunks it (uvicorn), or refuses the request itself (gunicorn, aiohttp: a 400
    that is not ours).
    """
    body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {TOKEN}",
        "Content-Length": str(len(body) + 100),
    }
    with serving(name, tmp_path) as server:
        answer = post_chunked(server.port, iter([body[:50], body[50:]]), headers)

    if SERVERS[name][0] in ("gunicorn", "aiohttp.web"):
        assert answer.status == 400
        assert b"outcome" not in answer.body  # the server's own refusal: the app never saw it
    else:
        assert answer.status == 200, answer


def test_a_delivery_cut_short_by_the_servers_shutdown_releases_its_claim(tmp_path: Path) -> None:
    """The claim of a delivery uvicorn cancels as it stops is released before the process ends.

    uvicorn cancels the requests still running after its grace period and re-raises SIGTERM a
    loop turn later: without the release, every retry would get 409 until the lease ran out.
    """
    store, started = tmp_path / "store.db", tmp_path / "store.db.started"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.adapters.served:hanging",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--timeout-graceful-shutdown", "1",
    ]  # fmt: skip
    event = make_event(FinishedJourney)
    body = event.model_dump_json(by_alias=True).encode()
    head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
    request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SERVED_STORE": str(store)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not listening(port):
            assert process.poll() is None, "uvicorn exited"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            while not started.exists():
                assert time.monotonic() < deadline, "the handler did not start"
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=TIMEOUT)

    from idwise_events import Claimed
    from idwise_events.stores.sql import SqlStore

    retry = SqlStore(f"sqlite:///{store}")
    claim = retry.claim(event.idempotency_key, lease=timedelta(minutes=5), fingerprint="x")
    retry.close()
    assert isinstance(claim, Claimed), claim


def listening(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
