"""Lease renewal: a claim stays held while its handlers run, however long they take.

A claim's lease lets another delivery take the event over once a crashed worker's time is up.
A handler that is merely slow (a back office taking minutes, a long GC pause) must not lose it:
while handlers run, the lease is extended every third of its length, so an event runs twice only
if its worker really died.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from ._text import printable

__all__: list[str] = []

logger = logging.getLogger("idwise_events")


class Hold:
    """One claim being kept alive; `stop` once its handlers are done."""

    __slots__ = ("_handle", "_keeper", "due", "key", "token")

    def __init__(self, key: str, token: str, keeper: LeaseKeeper | None = None) -> None:
        self.key = key
        self.token = token
        self.due = 0.0
        self._keeper = keeper
        self._handle: Any = None  # the event loop's timer, for an async-only store

    def stop(self) -> None:
        """Renew no more (the claim is about to be completed or released)."""
        if self._keeper is not None:
            self._keeper.drop(self)
        elif self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _lost(key: str, error: BaseException | None = None) -> None:
    reason = f"renewing it failed ({error})" if error else "another delivery took the event over"
    logger.warning(
        "idwise_events: the lease on %s could not be renewed: %s; if its handlers outlive the"
        " lease they may run twice",
        printable(key),
        reason,
    )


class LeaseKeeper:
    """Renews the leases a dispatcher holds, from one daemon thread started on first use."""

    def __init__(self, renew: Callable[..., bool], lease: timedelta) -> None:
        self._renew = renew
        self._lease = lease
        self._period = lease.total_seconds() / 3
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()  # a forked child has the lock and the map, but not the thread
        self._lock = threading.Lock()
        self._held: dict[Hold, None] = {}
        self._thread: threading.Thread | None = None

    def hold(self, key: str, token: str) -> Hold:
        """Start renewing the lease of ``key`` held with ``token``."""
        hold = Hold(key, token, self)
        hold.due = time.monotonic() + self._period
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._held[hold] = None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="idwise-events-leases", daemon=True
                )
                self._thread.start()
        return hold

    def drop(self, hold: Hold) -> None:
        with self._lock:
            self._held.pop(hold, None)

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                due = [hold for hold in self._held if hold.due <= now]
                for hold in due:
                    hold.due = now + self._period
                wake = min((hold.due for hold in self._held), default=now + self._period)
            for hold in due:
                self._renew_one(hold)
            time.sleep(max(0.0, wake - time.monotonic()))

    def _renew_one(self, hold: Hold) -> None:
        try:
            kept = self._renew(hold.key, hold.token, lease=self._lease)
        except Exception as error:  # a store outage: try again at the next period
            _lost(hold.key, error)
            return
        if not kept:
            with self._lock:
                still_running = self._held.pop(hold, False) is None
            if still_running:  # not a claim completed while it was being renewed
                _lost(hold.key)


def hold_async(
    key: str, token: str, renew: Callable[..., Awaitable[bool]], lease: timedelta
) -> Hold:
    """Keep a claim of an async-only store alive with the running event loop's timers."""
    import asyncio

    loop = asyncio.get_running_loop()
    period = lease.total_seconds() / 3
    hold = Hold(key, token)
    tasks: set[asyncio.Task[None]] = set()

    async def renew_now() -> None:
        try:
            kept = await renew(key, token, lease=lease)
        except Exception as error:
            _lost(key, error)
            kept = True  # try again at the next period
        if hold._handle is None:  # stopped meanwhile: the claim is being completed
            return
        if kept:
            hold._handle = loop.call_later(period, fire)
        else:
            _lost(key)

    def fire() -> None:
        task = loop.create_task(renew_now())
        tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(tasks.discard)

    hold._handle = loop.call_later(period, fire)
    return hold
