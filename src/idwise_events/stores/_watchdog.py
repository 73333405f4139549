"""`Watchdog`: cuts the connection of a database call still waiting after its time limit.

A call blocked on a database that stopped answering (a frozen network, a failover, an expired
NAT entry, a hung pooler) waits in the driver for ever: PostgreSQL's ``statement_timeout``
cannot help when its answer cannot arrive, and TCP keepalives cannot tell a silent peer from a
slow one when something on the way still acknowledges the packets. So the watchdog shuts down
the socket of a call that overran: the driver then fails at once with a connection error.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
import weakref
from typing import Any

__all__ = ["Watchdog"]


class Watchdog:
    """Shuts down the socket of every watched call still running ``limit`` seconds after it began.

    Needs a DB-API connection with a ``fileno()`` method (psycopg, psycopg2); without one, a
    call is not cut. One thread watches, started when a call is watched and ended when none is.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._tickets = itertools.count()
        self._forget()
        _all.add(self)

    def _forget(self) -> None:
        """Nothing watched and no thread: at creation, and in a forked child.

        The thread is the parent's: a child that believed it running would never cut a call.
        """
        self._calls: dict[int, tuple[float, Any]] = {}  # ticket -> (deadline, DB-API connection)
        self._lock = threading.Lock()
        self._watching = False
        self._closing = threading.Event()

    def watch(self, connection: Any) -> int:
        """Start the clock for a call on ``connection``; pass the ticket to `done` after it."""
        deadline = time.monotonic() + self.limit
        ticket = next(self._tickets)
        with self._lock:
            self._calls[ticket] = (deadline, connection)
            if not self._watching:
                self._watching = True
                threading.Thread(
                    target=self._watch, name="idwise-events-watchdog", daemon=True
                ).start()
        return ticket

    def done(self, ticket: int) -> bool:
        """Stop the clock; ``False`` if the call overran and its connection was cut.

        Call it before the connection goes back to the pool, so that a cut can never reach a
        connection that serves another call by then.
        """
        with self._lock:
            return self._calls.pop(ticket, None) is not None

    def close(self) -> None:
        """Let the thread end now if no call is watched, not at the last call's time limit."""
        self._closing.set()

    def _watch(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                for ticket, (deadline, connection) in list(self._calls.items()):
                    if deadline <= now:
                        del self._calls[ticket]
                        _cut(connection)
                if not self._calls:
                    self._watching = False
                    return
                # Calls watched later have later deadlines: nothing can be due sooner than this.
                wake = min(deadline for deadline, _ in self._calls.values())
            self._closing.wait(wake - now)
            self._closing.clear()


_all: weakref.WeakSet[Watchdog] = weakref.WeakSet()


def _forked() -> None:
    for watchdog in list(_all):
        watchdog._forget()


os.register_at_fork(after_in_child=_forked)


def _cut(connection: Any) -> None:
    """Shut the connection's socket down in both directions, so the blocked driver wakes up."""
    try:
        # Read under the watchdog's lock, while the call still holds the connection: the socket
        # is the connection's own. (A driver that dropped it itself answers with an error.)
        fd = connection.fileno()
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as duplicate:  # a dup()
            duplicate.shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: S110 -- no socket (left, closed, not a driver that exposes it): nothing to cut
        pass
