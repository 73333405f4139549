"""Lease renewal: a claim stays held while its handlers run, however long they take.

A claim's lease lets another delivery take the event over once a crashed worker's time is up.
A handler that is merely slow (a back office taking minutes, a long GC pause) must not lose it:
while handlers run, the lease is extended every third of its length, so an event runs twice only
if its worker really died. One daemon thread renews every claim of the process; it runs while
there are claims to keep and stops when there are none. Should its renewals fall behind (more
claims than one thread renews in time), it says so: the leases are then lapsing.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from ._text import printable

__all__: list[str] = []

logger = logging.getLogger("idwise_events")

Renew = Callable[..., bool]
"""A store's ``renew(key, token, *, lease=...)``."""


class Hold:
    """One claim being kept alive; `stop` once its handlers are done."""

    __slots__ = ("_handle", "due", "key", "lease", "renew", "token")

    def __init__(self, key: str, token: str, renew: Any, lease: timedelta) -> None:
        self.key = key
        self.token = token
        self.renew = renew
        self.lease = lease
        self.due = 0.0
        self._handle: Any = None  # the event loop's timer, for an async-only store

    def stop(self) -> None:
        """Renew no more (the claim is about to be completed or released)."""
        if self._handle is None:
            _held.pop(self, None)
        else:
            self._handle.cancel()
            self._handle = None


def _lost(key: str, error: BaseException | None = None) -> None:
    reason = f"renewing it failed ({error})" if error else "it lapsed and was taken over"
    logger.warning(
        "the lease on %s could not be renewed: %s; if its handlers outlive the"
        " lease they may run twice",
        printable(key),
        reason,
    )


# The claims of this process being kept, and the thread keeping them.
_held: dict[Hold, None] = {}
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _forked() -> None:
    """In a forked child: the claims and the thread were the parent's."""
    global _thread, _lock, _wakeup, _behind_told
    _thread = None
    _lock = threading.Lock()
    _wakeup = threading.Event()
    _held.clear()
    _behind_told = -math.inf


os.register_at_fork(after_in_child=_forked)
_wakeup = threading.Event()
_IDLE = 30.0
"""Seconds the thread waits without claims to keep before it stops."""
_sleeping_until = 0.0
_BEHIND_EVERY = 60.0
"""Seconds between two warnings that renewals are running behind."""
_behind_told = -math.inf


def hold(key: str, token: str, renew: Renew, lease: timedelta) -> Hold:
    """Renew the lease of ``key`` held with ``token`` through ``renew`` until it is stopped."""
    kept = Hold(key, token, renew, lease)
    kept.due = time.monotonic() + lease.total_seconds() / 3
    _held[kept] = None  # one dict operation, atomic: no lock on the path of every delivery
    if _thread is None:
        _start()
    elif kept.due < _sleeping_until:  # a shorter lease than the thread is waiting for
        _wakeup.set()
    return kept


def _start() -> None:
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_keep, name="idwise-events-leases", daemon=True)
            _thread.start()


def _keep() -> None:
    global _thread, _sleeping_until
    while True:
        # The next wake, lowered as the claims are scanned: until it is known, a claim added
        # meanwhile and due sooner wakes us (see `hold`).
        _sleeping_until = math.inf
        now = time.monotonic()
        held = list(_held)  # one C call: a snapshot, whatever other threads do meanwhile
        if not held:
            # Idle: wait a while for the next claim rather than start a thread per delivery.
            _sleeping_until = now + _IDLE
            _wakeup.wait(_IDLE)
            _wakeup.clear()
            if _held:
                continue
            with _lock:
                # Stop, unless a claim was added meanwhile: one added before `_thread` is
                # cleared is seen here; one added after it starts a new thread.
                _thread = None
                if not _held:
                    return
                _thread = threading.current_thread()
            continue
        for kept in held:
            if kept not in _held:  # stopped meanwhile: its claim is being completed
                continue
            period = kept.lease.total_seconds() / 3
            # Renew too what falls due within a quarter period: claims arriving one by one have
            # as many due times, and waking for each to scan them all would cost O(N²) CPU.
            # So wakes are a quarter period apart at least, and each claim is renewed between
            # 3/4 of a period and a period after its last renewal.
            if kept.due - period / 4 <= now:
                _renew(kept, period)
            if kept.due < _sleeping_until:
                _sleeping_until = kept.due
        if _sleeping_until == math.inf:
            continue  # every claim was stopped meanwhile: see whether to idle
        _wakeup.wait(max(0.0, _sleeping_until - time.monotonic()))
        _wakeup.clear()


def _renew(kept: Hold, period: float) -> None:
    now = time.monotonic()
    if now > kept.due + period:  # over 2/3 of the lease after the last renewal
        _behind(now, now - kept.due + period, kept.lease)
    kept.due = now + period  # from now, not from the wake: a round of renewals takes time
    try:
        renewed = kept.renew(kept.key, kept.token, lease=kept.lease)
    except Exception as error:  # a store outage: try again at the next period
        _lost(kept.key, error)
        return
    if not renewed and _held.pop(kept, False) is None:
        _lost(kept.key)  # (a claim completed while it was being renewed is not lost)


def _behind(now: float, since: float, lease: timedelta) -> None:
    """Say, once a minute at most, that renewals come so late that leases lapse or nearly.

    One thread renews every claim of the process, a store round trip each: with enough claims
    held at once on a short lease it falls behind, and another delivery may take over events
    whose handlers are still running.
    """
    global _behind_told
    if now - _behind_told < _BEHIND_EVERY:
        return
    _behind_told = now
    logger.warning(
        "lease renewals are running behind: a claim was renewed %.1fs after its last renewal,"
        " on a lease of %.1fs, with %d claims held by this process; a longer lease (the"
        " dispatcher's `lease`) or fewer handlers running at once per process keeps handlers"
        " from running twice",
        since,
        lease.total_seconds(),
        len(_held),
    )


def hold_async(
    key: str, token: str, renew: Callable[..., Awaitable[bool]], lease: timedelta
) -> Hold:
    """Keep a claim of an async-only store alive with the running event loop's timers."""
    import asyncio

    loop = asyncio.get_running_loop()
    period = lease.total_seconds() / 3
    kept = Hold(key, token, renew, lease)
    tasks: set[asyncio.Task[None]] = set()

    async def renew_now() -> None:
        try:
            renewed = await renew(key, token, lease=lease)
        except Exception as error:
            _lost(key, error)
            renewed = True  # try again at the next period
        if kept._handle is None:  # stopped meanwhile: the claim is being completed
            return
        if renewed:
            kept._handle = loop.call_later(period, fire)
        else:
            _lost(key)

    def fire() -> None:
        task = loop.create_task(renew_now())
        tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(tasks.discard)

    kept._handle = loop.call_later(period, fire)
    return kept
