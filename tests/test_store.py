"""MemoryStore specifics and the async path: as_async_store never blocks the event loop."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from idwise_events import (
    Claimed,
    ClaimResult,
    Completed,
    IdempotencyStore,
    InProgress,
    MemoryStore,
    StoreError,
    as_async_store,
)
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import FakeClock

LEASE = timedelta(minutes=5)


def test_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    """MemoryStore and SqlStore are IdempotencyStores (runtime-checkable protocol)."""
    sql = SqlStore(f"sqlite:///{tmp_path / 'events.db'}")
    assert isinstance(MemoryStore(), IdempotencyStore)
    assert isinstance(sql, IdempotencyStore)
    sql.close()


def test_memory_store_repr_shows_size_not_keys() -> None:
    """The repr counts keys without listing them."""
    store = MemoryStore()
    store.claim("evt-secret-ish", lease=LEASE, fingerprint="a")
    assert repr(store) == "MemoryStore(<1 keys>, retention=30 days, 0:00:00)"


def keys_in(store: MemoryStore) -> int:
    """How many keys the store holds, as its repr says."""
    match = re.search(r"<(\d+) keys>", repr(store))
    assert match is not None, repr(store)
    return int(match.group(1))


def claim_and_complete(store: MemoryStore, keys: list[str]) -> None:
    for key in keys:
        claim = store.claim(key, lease=LEASE, fingerprint="a")
        assert isinstance(claim, Claimed)
        assert store.complete(key, claim.token) is True


def test_memory_store_forgets_expired_keys_as_it_goes_without_purge() -> None:
    """Past the retention, continued claims shrink the store to the keys it must still remember."""
    clock = FakeClock()
    store = MemoryStore(retention=timedelta(days=1), clock=clock)
    claim_and_complete(store, [f"old-{number}" for number in range(3000)])
    store.claim("old-abandoned", lease=LEASE, fingerprint="a")
    clock.advance(timedelta(hours=23))
    store.claim("recent-abandoned", lease=LEASE, fingerprint="a")
    claim_and_complete(store, ["recent-done"])
    clock.advance(timedelta(hours=2))  # the "old" keys are now past the one-day retention
    assert keys_in(store) == 3003

    claim_and_complete(store, [f"new-{number}" for number in range(1600)])

    assert keys_in(store) == 1602  # the new keys and the two recent ones, nothing older
    assert store.claim("recent-done", lease=LEASE, fingerprint="a") == Completed()
    assert isinstance(store.claim("recent-abandoned", lease=LEASE, fingerprint="a"), Claimed)
    # Forgotten exactly as purge() forgets: a delivery now would be claimed afresh.
    assert isinstance(store.claim("old-0", lease=LEASE, fingerprint="a"), Claimed)
    assert store.purge() == 0


class CountingTime(datetime):
    """A time that counts how often it is compared: the work a store does on its records."""

    comparisons = 0
    # `other: Any`: typeshed's datetime comparisons themselves break mypy's override rule.

    def __lt__(self, other: Any) -> bool:
        CountingTime.comparisons += 1
        return super().__lt__(other)

    def __le__(self, other: Any) -> bool:
        CountingTime.comparisons += 1
        return super().__le__(other)

    def __gt__(self, other: Any) -> bool:
        CountingTime.comparisons += 1
        return super().__gt__(other)

    def __ge__(self, other: Any) -> bool:
        CountingTime.comparisons += 1
        return super().__ge__(other)


def test_a_memory_store_claim_costs_the_same_however_many_keys_it_holds() -> None:
    """Forgetting as it goes looks at a few records per claim (counted), never the whole store."""
    clock = FakeClock(start=CountingTime(2026, 1, 1, tzinfo=timezone.utc))
    store = MemoryStore(retention=timedelta(days=1), clock=clock)
    claim_and_complete(store, [f"old-{number}" for number in range(10_000)])
    clock.advance(timedelta(hours=12))
    claim_and_complete(store, [f"kept-{number}" for number in range(10_000)])
    clock.advance(timedelta(hours=13))  # the first 10,000 are past the retention, not the rest

    CountingTime.comparisons = 0
    claim_and_complete(store, [f"new-{number}" for number in range(10_000)])

    assert keys_in(store) == 20_000
    assert CountingTime.comparisons <= 4 * 10_000  # a handful per claim, whatever the size


def test_asyncio_tasks_sharing_a_memory_store_get_one_claim_per_key() -> None:
    """Many tasks interleaving on one loop still win each key once."""
    store = as_async_store(MemoryStore())
    keys = [f"evt-{number}" for number in range(200)]

    async def worker() -> list[str]:
        wins = []
        for key in keys:
            result = await store.claim(key, lease=LEASE, fingerprint="a")
            await asyncio.sleep(0)  # let the other tasks in between claims
            if isinstance(result, Claimed):
                wins.append(key)
        return wins

    async def main() -> list[list[str]]:
        return list(await asyncio.gather(*(worker() for _ in range(20))))

    wins = [key for task_wins in asyncio.run(main()) for key in task_wins]
    assert Counter(wins) == Counter(keys)


def test_async_view_of_a_memory_store_runs_the_same_flow() -> None:
    """Claim, renew, complete and purge through the async view behave as the sync store does."""
    sync_store = MemoryStore()
    store = as_async_store(sync_store)

    async def flow() -> None:
        claim = await store.claim("evt-1", lease=LEASE, fingerprint="a")
        assert isinstance(claim, Claimed)
        assert isinstance(await store.claim("evt-1", lease=LEASE, fingerprint="a"), InProgress)
        assert await store.renew("evt-1", claim.token, lease=LEASE) is True
        assert await store.complete("evt-1", claim.token) is True
        assert await store.release("evt-1", claim.token) is False
        assert await store.purge() == 0

    asyncio.run(flow())
    assert sync_store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()


def test_an_async_store_is_returned_unchanged() -> None:
    """A store that is already async needs no wrapping."""
    wrapped = as_async_store(MemoryStore())
    assert as_async_store(wrapped) is wrapped


def test_a_blocking_store_runs_through_run_sync_when_given_one(tmp_path: Path) -> None:
    """Every call of a blocking store goes through run_sync; MemoryStore stays inline."""
    calls: list[str] = []

    def run_sync(func: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            calls.append(func.__name__)
            return await asyncio.to_thread(func, *args, **kwargs)

        return run

    sql = SqlStore(f"sqlite:///{tmp_path / 'events.db'}")
    store = as_async_store(sql, run_sync=run_sync)

    async def flow() -> None:
        claim = await store.claim("evt-1", lease=LEASE, fingerprint="a")
        assert isinstance(claim, Claimed)
        assert await store.renew("evt-1", claim.token, lease=LEASE) is True
        assert await store.complete("evt-1", claim.token) is True
        assert await store.release("evt-1", claim.token) is False
        assert await store.purge() == 0
        await as_async_store(MemoryStore(), run_sync=run_sync).purge()

    asyncio.run(flow())
    sql.close()

    assert calls == ["claim", "renew", "complete", "release", "purge"]


class StoreWithoutRenew:
    """A user's blocking store written before renew existed: claim, complete, release, purge."""

    blocking = True

    def __init__(self) -> None:
        self._store = MemoryStore()

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        return self._store.claim(key, lease=lease, fingerprint=fingerprint)

    def complete(self, key: str, token: str) -> bool:
        return self._store.complete(key, token)

    def release(self, key: str, token: str) -> bool:
        return self._store.release(key, token)

    def purge(self) -> int:
        return self._store.purge()


@pytest.mark.parametrize("through", ["a thread", "run_sync"])
def test_a_store_without_renew_still_has_an_async_view(through: str) -> None:
    """as_async_store takes a store that predates renew; only a call to renew fails."""

    def in_a_thread(func: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(func, *args, **kwargs)

        return run

    run_sync = in_a_thread if through == "run_sync" else None
    # It type-checks as an IdempotencyStore no more (no renew), but runs as one.
    store = as_async_store(cast(IdempotencyStore, StoreWithoutRenew()), run_sync=run_sync)

    async def flow() -> None:
        claim = await store.claim("evt-1", lease=LEASE, fingerprint="a")
        assert isinstance(claim, Claimed)
        assert await store.complete("evt-1", claim.token) is True
        with pytest.raises(AttributeError, match="renew"):
            await store.renew("evt-1", claim.token, lease=LEASE)

    asyncio.run(flow())


def test_a_blocking_store_does_not_block_the_event_loop(tmp_path: Path) -> None:
    """While SqlStore waits on a locked SQLite file, other tasks keep running on the loop."""
    path = tmp_path / "events.db"
    sync_store = SqlStore(f"sqlite:///{path}", busy_timeout=timedelta(milliseconds=500))
    sync_store.create_table()
    store = as_async_store(sync_store)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        with pytest.raises(StoreError):
            await store.claim("evt-1", lease=LEASE, fingerprint="a")
        ticking.cancel()
        return ticks

    try:
        ticks = asyncio.run(main())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        sync_store.close()
    # The claim waited ~0.5 s for the lock; a blocked loop would not have ticked at all.
    assert ticks >= 10
