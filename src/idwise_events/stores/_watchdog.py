"""`Watchdog`: cuts the connection of a database call still waiting after its time limit.

A call blocked on a database that stopped answering (a frozen network, a failover, an expired
NAT entry, a hung pooler) waits in the driver for ever: PostgreSQL's ``statement_timeout``
cannot help when its answer cannot arrive, and TCP keepalives cannot tell a silent peer from a
slow one when something on the way still acknowledges the packets. So the watchdog shuts down
the socket of a call that overran: the driver then fails at once with a connection error.

A server that is merely slow (a statement waiting for a row lock, a purge of millions of rows)
would go on with the statement after the cut, and commit it, while the caller is told it failed.
So first the watchdog asks the server to cancel the statement, where the driver can without
blocking the process (psycopg 3 on libpq 17 or later), and waits up to `CANCEL_WAIT` for the
request to be sent: a call reported failed is then undone, unless the server was committing it
at that very moment.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import socket
import threading
import time
import weakref
from typing import Any

__all__ = ["CANCEL_WAIT", "PURGE_LIMIT", "Watchdog"]

CANCEL_WAIT = 1.0
"""Seconds the cut of overrun calls waits, at most, for their cancel requests to be sent."""
PURGE_LIMIT = 3600.0
"""Seconds a purge may take: deleting millions of rows takes minutes, not ``network_timeout``.

A purge is run by hand or by cron: waiting long on a database out of reach harms nothing there
(and for an engine the store creates, TCP keepalives end the wait within about a minute if the
server's machine is gone).
"""


class Watchdog:
    """Cancels and cuts every watched call still running ``limit`` seconds after it began.

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
        self._cutting: dict[int, threading.Event] = {}  # overran: set once cancelled and cut
        self._long: set[int] = set()  # calls with a longer limit than the watchdog's (purges)
        self._lock = threading.Lock()
        self._watching = False
        self._wake_at = math.inf  # when the thread next looks, unless woken
        self._wakeup = threading.Event()

    def watch(self, connection: Any, limit: float | None = None) -> int:
        """Start the clock for a call on ``connection``; pass the ticket to `done` after it.

        ``limit``: this call's, if not the watchdog's (a purge, which may take minutes).
        """
        deadline = time.monotonic() + (self.limit if limit is None else limit)
        ticket = next(self._tickets)
        with self._lock:
            self._calls[ticket] = (deadline, connection)
            if limit is not None and limit > self.limit:
                self._long.add(ticket)
            if not self._watching:
                self._watching = True
                threading.Thread(
                    target=self._watch, name="idwise-events-watchdog", daemon=True
                ).start()
            elif deadline < self._wake_at:  # sooner than the thread will look: a purge's wait
                self._wake_at = deadline
                self._wakeup.set()
        return ticket

    def done(self, ticket: int) -> bool:
        """Stop the clock; ``False`` if the call overran and its connection was cut.

        Call it before the connection goes back to the pool, so that a cut can never reach a
        connection that serves another call by then. For a call that overran, it returns once
        the statement's cancel was asked for and the connection cut (`CANCEL_WAIT` at most).
        """
        with self._lock:
            if self._calls.pop(ticket, None) is not None:
                if ticket in self._long:  # the thread may sleep until its hour: let it see
                    self._long.discard(ticket)
                    self._wakeup.set()
                return True
            self._long.discard(ticket)
            cutting = self._cutting.get(ticket)
        if cutting is not None:
            cutting.wait(CANCEL_WAIT + 1.0)  # (the cut follows the cancel's wait at once)
        return False

    def close(self) -> None:
        """Let the thread end now if no call is watched, not at the last call's time limit."""
        self._wakeup.set()

    def _watch(self) -> None:
        while True:
            overran: dict[int, tuple[Any, socket.socket | None]] = {}
            with self._lock:
                now = time.monotonic()
                for ticket, (deadline, connection) in list(self._calls.items()):
                    if deadline <= now:
                        del self._calls[ticket]
                        overran[ticket] = (connection, _socket(connection))
                        self._cutting[ticket] = threading.Event()
                watching = self._watching = bool(self._calls)
                # Calls may have limits of their own: a later one can be due sooner (see watch).
                self._wake_at = min((deadline for deadline, _ in self._calls.values()), default=0)
                self._wakeup.clear()
            if overran:  # (outside the lock: watching and ending calls never wait for this)
                _cancel_and_cut(list(overran.values()))
                with self._lock:
                    for ticket in overran:
                        self._cutting.pop(ticket).set()
            if not watching:
                return
            self._wakeup.wait(self._wake_at - time.monotonic())


_all: weakref.WeakSet[Watchdog] = weakref.WeakSet()


def _forked() -> None:
    for watchdog in list(_all):
        watchdog._forget()


os.register_at_fork(after_in_child=_forked)


def _socket(connection: Any) -> socket.socket | None:
    """The connection's socket under a descriptor of its own, or ``None`` if it has none.

    Taken while the call still holds the connection: if the connection is closed before the
    cut, its descriptor's number may serve another socket by then, but this one is still the
    call's.
    """
    try:
        return socket.fromfd(connection.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    except Exception:  # no socket (left, closed, not a driver that exposes it): nothing to cut
        return None


def _cancel_and_cut(overran: list[tuple[Any, socket.socket | None]]) -> None:
    """Ask the server to cancel each call's statement, then shut each call's socket down."""
    cancelling = [
        threading.Thread(target=_cancel, args=(connection,), daemon=True)
        for connection, _socket in overran
        if _can_cancel(connection)
    ]
    for thread in cancelling:
        thread.start()
    until = time.monotonic() + CANCEL_WAIT  # a server out of reach does not hold the cut up
    for thread in cancelling:
        thread.join(max(0.0, until - time.monotonic()))
    for _connection, sock in overran:
        if sock is not None:
            with sock, contextlib.suppress(OSError):  # so the blocked driver wakes up
                sock.shutdown(socket.SHUT_RDWR)


def _can_cancel(connection: Any) -> bool:
    """Whether the driver cancels without blocking the process: psycopg 3 on libpq 17 or later.

    Older libpq (and psycopg2, and psycopg's fallback) cancel in a C call that keeps Python's
    lock while it waits for the server, which would stop every thread of a process whose
    database is out of reach.
    """
    if getattr(connection, "cancel_safe", None) is None:
        return False
    try:
        from psycopg import capabilities

        return capabilities.has_cancel_safe()
    except Exception:  # an older psycopg, without capabilities (nor cancel_safe's own way)
        return False


def _cancel(connection: Any) -> None:
    # Closed meanwhile (its call ended), done already, or out of reach: nothing more to do.
    with contextlib.suppress(Exception):
        connection.cancel_safe(timeout=CANCEL_WAIT)
