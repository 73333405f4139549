"""One POST as IDWise makes it, for the send commands: never following a redirect.

Shared by ``idwise-events send`` and ``manage.py idwise_events_send``, which turn `NoAnswerError`
into their own one-line errors.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from .. import __version__
from .._errors import IdwiseEventsError


def basic_authorization(user: str, password: str) -> str:
    """An ``Authorization`` (or ``Proxy-Authorization``) header's value for Basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@dataclass(frozen=True)
class Answer:
    """What the receiver answered one POST."""

    status: int
    body: bytes
    location: str | None = None
    """The ``Location`` header of a redirect (3xx), which IDWise does not follow."""

    @property
    def redirected(self) -> bool:
        """True for a 3xx: the receiver sent the delivery elsewhere, and IDWise would not go."""
        return 300 <= self.status < 400


class NoAnswerError(IdwiseEventsError):
    """No HTTP answer came back: unknown host, connection refused, TLS failure, timeout.

    The message is the reason alone (``Connection refused``), for the caller to put after the
    URL it shows.
    """


def split_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@``, and those (percent-decoded), as curl reads them.

    ``(url, None)`` when the URL carries no credentials. Characters a request line cannot carry
    (``/café``, or bytes that are not UTF-8) are percent-encoded, as a browser sends them.

    Raises:
        ValueError: If ``url`` is not an http(s) URL with a host, or its credentials lack a user
            or a password (or the user holds ``:``, which Basic Authentication cannot carry).
            The message shows the URL without its credentials.
    """
    try:
        parts = urlsplit(url)
        bare = urlunsplit(
            parts._replace(
                netloc=parts.netloc.rpartition("@")[2],
                path=_encoded(parts.path),
                query=_encoded(parts.query),
                fragment=_encoded(parts.fragment),
            )
        )
        checked = urlsplit(bare)
        checked.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
        (checked.hostname or "").encode("idna")  # a host name DNS can carry (UnicodeError)
        if any(character.isspace() or not character.isprintable() for character in checked.netloc):
            raise ValueError("a host name holds no space or control character")
    except ValueError as exc:
        raise ValueError("must be an http:// or https:// URL with a host") from exc
    if checked.scheme not in ("http", "https") or not checked.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, not {bare!r}")
    if parts.username is None and parts.password is None:
        return bare, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not user or not password or ":" in user:
        raise ValueError(
            "with credentials needs a user (without ':') and a password: http://USER:PASS@host/"
        )
    return bare, (user, password)


def _encoded(text: str) -> str:
    """``text`` (a URL's path or query) with what is not printable ASCII percent-encoded.

    What is already percent-encoded stays as it is; bytes that are not UTF-8 (in a command's
    arguments) are encoded as the bytes they were.
    """
    return quote(text, safe="/%:@!$&'()*+,;=?~", errors="surrogateescape")


USER_AGENT = f"idwise-events/{__version__}"
"""Sent unless the caller sends its own: some firewalls refuse a request without one."""

MAX_ANSWER_BYTES = 65_536
"""How much of an answer's body is read: enough for any receiver's message, and no more."""


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``url`` (without credentials in it) with ``headers``; any status answers.

    A redirect is the answer, as for IDWise. Of the answer's body, the first `MAX_ANSWER_BYTES`
    are read. ``timeout`` bounds the whole exchange, however slowly the receiver answers. The
    environment's proxy is used, as curl uses it (see `_connection`).

    Raises:
        NoAnswerError: If there is no answer: the host is unknown or refuses connections, TLS
            fails, the answer breaks off, or it is not complete within ``timeout`` seconds. The
            message never quotes a header.
    """
    headers = {"User-Agent": USER_AGENT, **headers}
    deadline = _Deadline(timeout)
    connection = None
    try:
        connection, target, proxy_headers = _connection(urlsplit(url), timeout, deadline.connect)
        headers.update(proxy_headers)
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = Answer(response.status, response.read(MAX_ANSWER_BYTES))
        if answer.redirected:
            answer = Answer(answer.status, answer.body, response.getheader("Location"))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # (ValueError: a TLS socket read as the timeout shuts it down, or a URL http.client
        # refuses, which `split_url` would have refused first.)
        if deadline.expired.is_set() or isinstance(exc, TimeoutError):
            raise NoAnswerError(f"no answer within {timeout:g} s") from exc
        raise NoAnswerError(_reason(exc)) from exc
    finally:
        deadline.cancel()
        if connection is not None:
            connection.close()
    if deadline.expired.is_set():  # cut short, yet read without an error
        raise NoAnswerError(f"no answer within {timeout:g} s")
    return answer


class _Deadline:
    """The time limit of a whole exchange: connection, proxy tunnel, TLS handshake, answer.

    When it is up, the connection's socket is shut down, so that whatever waits on it returns at
    once, however slowly the other end trickles bytes (each read's own timeout would not end it).
    """

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = threading.Event()
        self._timer: threading.Timer | None = None
        self._duplicate: socket.socket | None = None

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """`socket.create_connection` in the time left, the timer started on the new socket.

        ``timeout`` (http.client's, for each read) gives way to the time left.
        """
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock = socket.create_connection(address, left, source_address)
        # TLS takes `sock` over (and detaches it): shutting a duplicate down ends both.
        self._duplicate = sock.dup()
        self._timer = threading.Timer(self.at - time.monotonic(), self._cut)
        self._timer.daemon = True
        self._timer.start()
        return sock

    def _cut(self) -> None:
        self.expired.set()
        if self._duplicate is not None:
            with suppress(OSError):
                self._duplicate.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """The exchange ended in time: stop the timer, close the duplicate."""
        if self._timer is not None:
            self._timer.cancel()
        if self._duplicate is not None:
            self._duplicate.close()


def _connection(
    parts: SplitResult, timeout: float, connect: Callable[..., socket.socket]
) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """The connection for the URL ``parts``, the request's target, and headers for a proxy.

    Straight to the host, or through the proxy the environment names for the URL's scheme
    (``http_proxy``, ``https_proxy``), as curl goes: plain HTTP with the whole URL as target,
    HTTPS through a ``CONNECT`` tunnel. ``no_proxy`` and loopback hosts go straight. The socket
    is opened by ``connect``, as `socket.create_connection` would.
    """
    path = urlunsplit(("", "", _encoded(parts.path) or "/", _encoded(parts.query), ""))
    https = parts.scheme == "https"
    proxy = _proxy_for(parts)
    if proxy is None:
        kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
        return _opened_by(connect, kind(parts.netloc, timeout=timeout)), path, {}
    proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    authorization: dict[str, str] = {}
    if proxy_parts.username is not None:
        user, password = unquote(proxy_parts.username), unquote(proxy_parts.password or "")
        authorization["Proxy-Authorization"] = basic_authorization(user, password)
    proxy_address = proxy_parts.netloc.rpartition("@")[2]
    if https:
        tunnel = _opened_by(connect, http.client.HTTPSConnection(proxy_address, timeout=timeout))
        tunnel.set_tunnel(parts.netloc, headers=authorization)
        return tunnel, path, {}
    whole = f"{parts.scheme}://{parts.netloc}{path}"
    connection = _opened_by(connect, http.client.HTTPConnection(proxy_address, timeout=timeout))
    return connection, whole, authorization


_C = TypeVar("_C", bound=http.client.HTTPConnection)


def _opened_by(connect: Callable[..., socket.socket], connection: _C) -> _C:
    """``connection``, which opens its socket with ``connect``.

    http.client opens it through this attribute, set to `socket.create_connection` (CPython 3.4
    on); tests/test_sender.py fails if that changes.
    """
    vars(connection)["_create_connection"] = connect
    return connection


def _proxy_for(parts: SplitResult) -> str | None:
    """The proxy the environment names for ``parts``' scheme, unless the host bypasses it."""
    host = parts.hostname or ""
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:  # a host name
        pass
    import urllib.request  # only here: it imports much that the library never needs

    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy


def _reason(exc: OSError | http.client.HTTPException | ValueError) -> str:
    """Why no answer came, in a few words that quote no header."""
    if isinstance(exc, OSError) and exc.strerror:  # refused, unknown host, TLS
        return exc.strerror
    return f"no complete answer: {str(exc) or type(exc).__name__}"  # dropped, not HTTP
