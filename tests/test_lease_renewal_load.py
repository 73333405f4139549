"""The lease-renewal thread under many claims: how often it wakes, and what it says when late.

Real threads and a MemoryStore. No assertion on speed (the machines are shared and noisy):
the wakes are counted, and the timings checked are those that decide whether a lease lapses.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise

import pytest

from idwise_events import Claimed, InProgress, MemoryStore, _leases

BEHIND = "lease renewals are running behind"


class CountedEvent(threading.Event):
    """The thread's wakeup event, counting how many times the thread waits (then wakes)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def _stopped(within: float = 10.0) -> bool:
    """Whether the renewal thread stops (it does once idle for `_IDLE`) within ``within``."""
    deadline = time.monotonic() + within
    while _leases._thread is not None and time.monotonic() < deadline:
        _leases._wakeup.set()  # wake it to see it has nothing to keep
        time.sleep(0.01)
    return _leases._thread is None


@pytest.fixture
def wakeup(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountedEvent]:
    """A renewal thread of the test's own, started on the first hold, its wakes counted."""
    monkeypatch.setattr(_leases, "_IDLE", 0.05)
    assert _stopped(), "the renewal thread of an earlier test still has claims to keep"
    event = CountedEvent()
    monkeypatch.setattr(_leases, "_wakeup", event)
    monkeypatch.setattr(_leases, "_behind_told", -math.inf)
    yield event
    # Not left waiting on this event once the test is over.
    assert _stopped(), "the test left claims held"


def hold_arriving(
    store: MemoryStore, count: int, lease: timedelta, renew: _leases.Renew | None = None
) -> dict[str, tuple[float, _leases.Hold]]:
    """Claim and hold ``count`` keys arriving in 50 waves over a third of ``lease``.

    As many distinct due times, as slow deliveries arriving steadily have: each wave is due
    at its own time. Returns when each key was held, and its hold.
    """
    held: dict[str, tuple[float, _leases.Hold]] = {}
    waves = 50
    for wave in range(waves):
        for i in range(wave, count, waves):
            key = f"k{i}"
            claimed = store.claim(key, lease=lease, fingerprint="f")
            assert isinstance(claimed, Claimed)
            held[key] = (
                time.monotonic(),
                _leases.hold(key, claimed.token, renew or store.renew, lease),
            )
        time.sleep(lease.total_seconds() / 3 / waves)
    return held


def test_the_thread_wakes_a_few_times_a_period_however_many_claims_have_their_own_due_time(
    wakeup: CountedEvent,
) -> None:
    """3,000 claims due at 50 different times a period: at most about 4 wakes a period.

    Waking at each due time to scan every claim made the thread's CPU grow with N².
    """
    lease = timedelta(seconds=1.5)
    period = lease.total_seconds() / 3
    held = hold_arriving(MemoryStore(), 3_000, lease)
    try:
        time.sleep(period)  # every claim renewed once
        before = wakeup.waits
        time.sleep(3 * period)
        wakes = wakeup.waits - before
    finally:
        for _, kept in held.values():
            kept.stop()

    # A wake at least every quarter period: 12 in 3 periods, and some slack for a late one.
    assert wakes <= 20


def test_every_claim_is_renewed_before_its_lease_lapses_and_no_more_often_than_needed(
    wakeup: CountedEvent, caplog: pytest.LogCaptureFixture
) -> None:
    """Renewed between a quarter and a third of the lease after the last time, never late."""
    lease = timedelta(seconds=2.4)
    seconds = lease.total_seconds()
    store = MemoryStore()
    renewed: defaultdict[str, list[float]] = defaultdict(list)

    def renew(key: str, token: str, *, lease: timedelta) -> bool:
        renewed[key].append(time.monotonic())
        return store.renew(key, token, lease=lease)

    held = hold_arriving(store, 1_000, lease, renew)
    try:
        time.sleep(2 * seconds)
        taken_over = [
            key
            for key in held
            if not isinstance(store.claim(key, lease=lease, fingerprint="f"), InProgress)
        ]
        ended = time.monotonic()
    finally:
        for _, kept in held.values():
            kept.stop()

    assert taken_over == []
    for key, (held_at, _) in held.items():
        gaps = [later - earlier for earlier, later in pairwise([held_at, *renewed[key], ended])]
        assert max(gaps) < seconds, key  # the lease never lapsed
        assert min(gaps[:-1]) > seconds / 6, key  # (a quarter of the lease, but for jitter)
    assert not [r for r in caplog.records if BEHIND in r.getMessage()]


def test_a_shorter_lease_wakes_the_thread_waiting_for_a_longer_one(wakeup: CountedEvent) -> None:
    """A claim on a short lease is renewed in time, not when the long lease's claim falls due."""
    store = MemoryStore()
    long = store.claim("long", lease=timedelta(minutes=1), fingerprint="f")
    assert isinstance(long, Claimed)
    holds = [_leases.hold("long", long.token, store.renew, timedelta(minutes=1))]
    time.sleep(0.1)  # the thread now waits for 20 s
    lease = timedelta(seconds=0.6)
    short = store.claim("short", lease=lease, fingerprint="f")
    assert isinstance(short, Claimed)
    renewed = threading.Event()

    def renew(key: str, token: str, *, lease: timedelta) -> bool:
        renewed.set()
        return store.renew(key, token, lease=lease)

    held_at = time.monotonic()
    holds.append(_leases.hold("short", short.token, renew, lease))
    try:
        assert renewed.wait(timeout=10)
        assert time.monotonic() - held_at < lease.total_seconds()
    finally:
        for kept in holds:
            kept.stop()


def test_renewals_running_behind_are_told_once(
    wakeup: CountedEvent, caplog: pytest.LogCaptureFixture
) -> None:
    """Renewals slower than the leases allow: one warning, naming the claims held and the cure."""
    caplog.set_level(logging.WARNING, logger="idwise_events")
    store = MemoryStore()
    lease = timedelta(seconds=0.3)

    def slow_renew(key: str, token: str, *, lease: timedelta) -> bool:
        time.sleep(0.05)  # ten claims: half a second a round, where a lease lasts 0.3 s
        return store.renew(key, token, lease=lease)

    holds = []
    for i in range(10):
        claimed = store.claim(f"k{i}", lease=lease, fingerprint="f")
        assert isinstance(claimed, Claimed)
        holds.append(_leases.hold(f"k{i}", claimed.token, slow_renew, lease))
    try:
        time.sleep(2.0)  # several late rounds
    finally:
        for kept in holds:
            kept.stop()

    [told] = [r for r in caplog.records if BEHIND in r.getMessage()]
    assert told.levelno == logging.WARNING
    assert "10 claims held" in told.getMessage()
    assert "longer lease" in told.getMessage()


def test_the_thread_survives_a_scan_whose_claims_were_all_stopped_meanwhile(
    wakeup: CountedEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims stopped between the snapshot and their turn leave no next wake: the thread idles.

    (It must not wait forever, nor give `Event.wait` an infinite timeout, which raises.)
    """

    class StaleOnce(dict[_leases.Hold, None]):
        """The claims held, listed once as a claim already stopped."""

        def __init__(self) -> None:
            super().__init__()
            gone = _leases.Hold("gone", "t", lambda *args, **kwargs: True, timedelta(seconds=1))
            self.stale: list[_leases.Hold] | None = [gone]

        def __iter__(self) -> Iterator[_leases.Hold]:
            listed, self.stale = self.stale, None
            return iter(listed) if listed is not None else super().__iter__()

    held = StaleOnce()
    monkeypatch.setattr(_leases, "_held", held)
    store = MemoryStore()
    lease = timedelta(seconds=0.6)
    claimed = store.claim("k", lease=lease, fingerprint="f")
    assert isinstance(claimed, Claimed)
    renewed = threading.Event()

    def renew(key: str, token: str, *, lease: timedelta) -> bool:
        renewed.set()
        return store.renew(key, token, lease=lease)

    kept = _leases.hold("k", claimed.token, renew, lease)
    try:
        assert renewed.wait(timeout=10)
    finally:
        kept.stop()
    assert held.stale is None  # the thread did list the stopped claim
