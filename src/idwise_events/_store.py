"""Exactly-once bookkeeping: the `IdempotencyStore` protocol, its claim results, and `MemoryStore`.

IDWise retries a delivery with the same ``eventId`` until it gets HTTP 200, and several workers may
receive the same event at once. Before running handlers a worker *claims* the event's idempotency
key; exactly one claim wins a lease and gets a fencing token, the others learn that the event is
done or in progress. The winner then *completes* the key (or *releases* it after a failure so that
IDWise's retry runs it again). A worker that crashed holds its lease only until it expires; then
the next delivery takes the event over, and the crashed worker's token can no longer complete it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, TypeAlias, runtime_checkable

from ._text import printable

__all__ = [
    "ClaimResult",
    "Claimed",
    "Completed",
    "IdempotencyStore",
    "InProgress",
    "MemoryStore",
    "fingerprint",
]

logger = logging.getLogger("idwise_events")

DEFAULT_RETENTION = timedelta(days=30)
"""How long completed keys are remembered by default: far beyond IDWise's retry window (~30 min)."""

MIN_RETRY_AFTER = timedelta(seconds=1)
"""The shortest ``retry_after`` a store reports for an event in progress."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (the default clock of every store)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Claimed:
    """You hold the lease: run the handlers, then `complete` (or `release` on failure)."""

    token: str
    """The fencing token: only it can complete or release this claim."""
    fingerprint_mismatch: bool = False
    """True when the key was first claimed with a different body (see `IdempotencyStore.claim`)."""


@dataclass(frozen=True, slots=True)
class Completed:
    """The event was processed already: acknowledge it without running the handlers again."""

    fingerprint_mismatch: bool = False
    """True when this delivery's body differs from the one that was processed."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """Another worker holds a live lease on the event: ask the sender to come back later."""

    retry_after: timedelta
    """Time until that lease expires (at least one second): a sensible ``Retry-After``."""
    fingerprint_mismatch: bool = False
    """True when this delivery's body differs from the one being processed."""


ClaimResult: TypeAlias = Claimed | Completed | InProgress
"""What [`IdempotencyStore.claim`][idwise_events.IdempotencyStore.claim] returns."""


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where idempotency keys are claimed, completed and remembered (synchronous).

    Implement these methods and ``blocking`` to plug in your own backend; the contract tests in
    ``tests/stores/test_contract.py`` show the expected behaviour. Every method raises
    [`StoreError`][idwise_events.StoreError] when the backend is unavailable, and nothing else.
    A store written before `renew` existed still works: its leases just cannot be extended.
    """

    blocking: bool
    """Whether calls may wait on I/O (a database, the network). Async code calls a store that
    never blocks (`MemoryStore`) inline, and runs the calls of one that does in a worker thread
    (see [`as_async_store`][idwise_events.as_async_store])."""

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        """Try to take the event ``key`` for processing, in one atomic step.

        Inserts the key if it is absent, or takes over a claim whose lease has expired (its
        worker crashed), and returns `Claimed` with a new token; never a read followed by a write.
        Otherwise returns `Completed` or `InProgress`. ``fingerprint`` (the SHA-256 of the raw
        body) is stored with the first claim; a later claim of the same key with another
        fingerprint sets ``fingerprint_mismatch`` on its result and logs a warning. Any text is
        a valid key or fingerprint, of any length.

        Raises ``ValueError`` (before touching the backend) for a lease of zero or less, or
        longer than a day: such a lease cannot hold.
        """
        ...

    def complete(self, key: str, token: str) -> bool:
        """Mark ``key`` processed. False if ``token`` no longer holds the claim (taken over)."""
        ...

    def release(self, key: str, token: str) -> bool:
        """Drop the claim after a failure so the next delivery runs the event again.

        False if ``token`` no longer holds the claim.
        """
        ...

    def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        """Extend a claim while its handlers still run: its lease then expires ``lease`` from now.

        One atomic conditional update, never a read followed by a write. True if ``token``
        still holds the claim: in progress, neither completed nor released nor taken over by a
        later claim. That includes a lease that already expired if no other claim took the event
        over since: nobody else holds it, so extending it is safe. False otherwise, and nothing
        changes.

        Raises ``ValueError`` (before touching the backend) for a lease of zero or less, or
        longer than a day, as `claim` does.
        """
        ...

    def purge(self) -> int:
        """Forget completed keys older than the retention, and claims expired as long ago.

        Returns how many keys were removed.
        """
        ...


def fingerprint(body: bytes) -> str:
    """The ``fingerprint`` that `IdempotencyStore.claim` takes: the body's SHA-256, in hex.

    Two deliveries with the same idempotency key but different fingerprints are not the same
    event (see `IdempotencyStore.claim`). [`Dispatcher`][idwise_events.Dispatcher] computes it for
    you; call it when you drive a store by hand.
    """
    return hashlib.sha256(body).hexdigest()


def report_fingerprint_mismatch(key: str) -> None:
    """Log that ``key`` came with a body other than the first one (never silently ignored)."""
    logger.warning(
        "idempotency key %r was delivered with a different body than when first claimed; "
        "treating it as the same event",
        printable(key),
    )


def retry_after(lease_expires_at: datetime, now: datetime) -> timedelta:
    """Time left on a lease, never less than `MIN_RETRY_AFTER`."""
    return max(lease_expires_at - now, MIN_RETRY_AFTER)


MAX_LEASE = timedelta(days=1)
"""The longest lease a store accepts.

IDWise stops retrying within about half an hour, so a longer claim only delays a crashed
worker's event; a day is far beyond any real need and catches mistakes such as
``timedelta(300)`` (300 days, not seconds). It also keeps every expiry representable.
"""


def check_lease(lease: timedelta) -> None:
    """Refuse, with `ValueError`, a lease that cannot hold; stores call it first in claim and renew.

    Zero or less would let two workers hold the event at once; longer than `MAX_LEASE` is a
    mistake, and could overflow a timestamp.
    """
    if not isinstance(lease, timedelta):
        raise TypeError(f"lease must be a timedelta, not {type(lease).__name__}")
    if not timedelta(0) < lease <= MAX_LEASE:
        raise ValueError(f"lease must be more than zero and at most {MAX_LEASE}, not {lease}")


def check_retention(retention: timedelta) -> timedelta:
    """``retention``, refused with `ValueError` if negative (stores call it when created).

    A negative one would purge claims still held ("expired as long ago" lies in the future):
    their events' retries would run the handlers again, beside the runs still going.
    """
    if not isinstance(retention, timedelta):
        raise TypeError(f"retention must be a timedelta, not {type(retention).__name__}")
    if retention < timedelta(0):
        raise ValueError(f"retention must be zero or more, not {retention}")
    return retention


_SWEEP_EVERY = 64
"""How many `MemoryStore` claims come between two sweeps for expired records."""
_SWEEP = 2 * _SWEEP_EVERY
"""How many records a sweep looks at: twice the records the claims since the last one may add,
so the sweeps go round the whole store faster than it grows. Expired records are forgotten within
one round, the store stays within about twice the records its retention keeps, and each claim
pays for looking at two records (in batches, which is cheaper per record)."""


class _Record:
    __slots__ = ("completed_at", "fingerprint", "lease_expires_at", "token")

    def __init__(self, token: str, fingerprint: str, lease_expires_at: datetime) -> None:
        self.token = token
        self.fingerprint = fingerprint
        self.lease_expires_at = lease_expires_at
        self.completed_at: datetime | None = None


class MemoryStore:
    """An in-process store: thread-safe and asyncio-safe, lost when the process exits.

    Right for development, tests and a single-process app; use
    [`SqlStore`][idwise_events.stores.sql.SqlStore] when events must be remembered across
    restarts or shared by several processes or machines.

    It forgets as it goes what `purge` would forget: every 64 claims it looks at the next 128 keys
    it holds, in turn, so a process that never calls `purge` still holds about as many keys as
    the retention keeps, never every key it ever saw, and a claim costs the same whatever the
    size.

    Args:
        retention: How long completed keys are remembered.
        clock: Returns the current time, timezone-aware; inject one in tests.
    """

    blocking = False
    """False: calls never wait on I/O (the lock is held for microseconds), so async code calls
    them inline."""

    def __init__(self, *, retention: timedelta = DEFAULT_RETENTION, clock: Clock = utc_now) -> None:
        self.retention: timedelta = check_retention(retention)
        self._clock = clock
        # In the order the sweep looks at them: a record it keeps goes to the back of the line.
        # (An OrderedDict: taking from the front of a dict is not O(1).)
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()
        # Tokens only need to be unique within this store: a counter is enough and cheap.
        self._tokens = itertools.count(1)
        self._claims_to_sweep = _SWEEP_EVERY
        self._first_claim: datetime | None = None  # no record is older: none to forget before

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._records)} keys>, retention={self.retention})"

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        """See [`IdempotencyStore.claim`][idwise_events.IdempotencyStore.claim]."""
        check_lease(lease)
        now = self._clock()
        with self._lock:
            self._claims_to_sweep -= 1
            if not self._claims_to_sweep:
                self._claims_to_sweep = _SWEEP_EVERY
                cutoff = now - self.retention
                if self._first_claim is not None and cutoff > self._first_claim:
                    self._sweep(cutoff)
            record = self._records.get(key)
            if record is None:
                if self._first_claim is None:
                    self._first_claim = now
                token = str(next(self._tokens))
                self._records[key] = _Record(token, fingerprint, now + lease)
                return Claimed(token)
            mismatch = record.fingerprint != fingerprint
            if record.completed_at is not None:
                result: ClaimResult = Completed(mismatch)
            elif record.lease_expires_at <= now:
                record.token = str(next(self._tokens))
                record.lease_expires_at = now + lease
                result = Claimed(record.token, mismatch)
            else:
                result = InProgress(retry_after(record.lease_expires_at, now), mismatch)
        if mismatch:
            report_fingerprint_mismatch(key)
        return result

    def complete(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.complete`][idwise_events.IdempotencyStore.complete]."""
        now = self._clock()
        with self._lock:
            record = self._records.get(key)
            if record is None or record.token != token:
                return False
            if record.completed_at is None:
                record.completed_at = now
            return True

    def release(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.release`][idwise_events.IdempotencyStore.release]."""
        with self._lock:
            record = self._records.get(key)
            if record is None or record.token != token or record.completed_at is not None:
                return False
            del self._records[key]
            return True

    def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        """See [`IdempotencyStore.renew`][idwise_events.IdempotencyStore.renew]."""
        check_lease(lease)
        now = self._clock()
        with self._lock:
            record = self._records.get(key)
            if record is None or record.token != token or record.completed_at is not None:
                return False
            record.lease_expires_at = now + lease
            return True

    def purge(self) -> int:
        """See [`IdempotencyStore.purge`][idwise_events.IdempotencyStore.purge]."""
        cutoff = self._clock() - self.retention
        with self._lock:
            stale = [key for key, record in self._records.items() if _stale(record, cutoff)]
            for key in stale:
                del self._records[key]
        return len(stale)

    def _sweep(self, cutoff: datetime) -> None:
        """Forget the next `_SWEEP` records in line if `purge` would; the others go to the back."""
        records = self._records
        for _ in range(min(_SWEEP, len(records))):
            key, record = records.popitem(last=False)
            if not _stale(record, cutoff):
                records[key] = record


def _stale(record: _Record, cutoff: datetime) -> bool:
    """Whether `purge` forgets ``record``: completed, or its lease ended, before ``cutoff``."""
    return (record.completed_at or record.lease_expires_at) < cutoff
