"""HTTP for the commands: a WSGI or ASGI server on a socket, and a POST as IDWise makes it."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import click

from ..testing._sender import Answer, NoAnswerError, split_url
from ..testing._sender import post as post_as_idwise
from ._common import CliError
from ._terminal import MESSAGE_LIMIT, printable

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..adapters.asgi import AsgiApp

START_TIMEOUT = 10.0
"""Seconds a server started in-process may take to accept connections."""


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request, so a slow delivery does not hold up the next."""

    daemon_threads = True  # Ctrl-C does not wait for a client that keeps its connection open
    request_queue_size = 128  # a burst waits to be accepted (socketserver's 5 reset it)


class _QuietHandler(WSGIRequestHandler):
    """wsgiref's request handler without its access log: the commands print their own lines."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def wsgi_server(app: WSGIApplication, host: str, port: int) -> WSGIServer:
    """A threaded wsgiref server for ``app`` bound to ``host:port`` (port 0: any free one).

    Raises:
        CliError: If the address cannot be bound (in use, not local, not permitted).
    """
    try:
        server = _ThreadingWsgiServer((host, port), _QuietHandler)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {_bind_reason(exc)}") from exc
    server.set_app(app)
    return server


def _bind_reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the address is already in use (another server on that port? try --port)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


@contextmanager
def serving_wsgi(app: WSGIApplication, port: int = 0) -> Iterator[str]:
    """Serve ``app`` on a loopback port (0: a free one) in a thread; yield its base URL."""
    server = wsgi_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, name="idwise-events-wsgi", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=START_TIMEOUT)


@contextmanager
def serving_asgi(app: AsgiApp, port: int = 0) -> Iterator[str]:
    """Serve ``app`` under uvicorn on a loopback port (0: a free one) in a thread; yield its URL.

    Raises:
        CliError: If uvicorn is not installed, the port cannot be bound, or the server does not
            start in time.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise CliError("--server asgi needs uvicorn: pip install uvicorn") from exc
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on 127.0.0.1:{port}: {_bind_reason(exc)}") from exc
    port = sock.getsockname()[1]
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any client on
    # 127.0.0.1 (its default trusted proxy) as the peer address, which IpAllowlist checks.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    # Outside the main thread uvicorn installs no signal handlers: Ctrl-C stays ours.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="idwise-events-asgi", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise CliError("uvicorn did not start serving the demo receiver")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()


# -- the client ------------------------------------------------------------------------------


def url_and_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``--url`` checked, without the ``user:password@`` it may carry, and those credentials.

    Raises:
        click.UsageError: If it is not an http(s) URL with a host, or its credentials are
            incomplete. The message shows the URL without its credentials.
    """
    try:
        return split_url(url)
    except ValueError as exc:
        raise click.UsageError(f"--url {printable(exc, limit=MESSAGE_LIMIT)}") from exc


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``url`` with ``headers``, as IDWise does: a redirect is the answer.

    Raises:
        CliError: If there is no answer: the host is unknown or refuses connections, TLS fails,
            or nothing comes back within ``timeout`` seconds.
    """
    try:
        return post_as_idwise(url, body, headers, timeout=timeout)
    except NoAnswerError as exc:
        raise CliError(f"cannot reach {url}: {exc}") from exc
