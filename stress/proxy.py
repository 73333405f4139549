"""A TCP proxy on 127.0.0.1 that the test controls: it can freeze the network without closing it.

While frozen, the proxy accepts connections and keeps every open one, but forwards nothing in
either direction: to both sides the network has gone silent, the hardest case for a client
(nothing fails, nothing arrives). `thaw` forwards again what was held. Threads, each waiting
at most ``POLL`` seconds at a time, so `close` ends everything promptly.
"""

from __future__ import annotations

import select
import socket
import threading
from contextlib import suppress
from types import TracebackType

POLL = 0.1  # seconds: how often an idle thread checks whether to stop or thaw


class FreezableProxy:
    """Forward ``127.0.0.1:port`` to ``upstream``; `freeze` and `thaw` the traffic at will."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def freeze(self) -> None:
        """Stop forwarding: open connections stay open and silent; new ones are accepted."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again, starting with what was held."""
        self._flowing.set()

    def close(self) -> None:
        """Stop every thread and close every socket."""
        self._closed.set()
        self._flowing.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            for sock in self._sockets:
                with suppress(OSError):
                    sock.close()
        self._listener.close()

    def __enter__(self) -> FreezableProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()  # the upstream is down: the client sees its connection refused
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(source, target), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                if not self._flowing.wait(POLL):
                    continue  # frozen: read nothing, so nothing is forwarded either way
                readable, _, _ = select.select([source], [], [], POLL)
                if not readable:
                    continue
                self._flowing.wait()  # frozen between select and recv: hold the data
                data = source.recv(65536)
                if not data:
                    break
                while not self._flowing.wait(POLL):
                    if self._closed.is_set():
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                target.shutdown(socket.SHUT_WR)
