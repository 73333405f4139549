"""The IdempotencyStore contract, run against every backend: memory, SQLite, PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import Counter
from datetime import timedelta

import pytest

from idwise_events import (
    Claimed,
    Completed,
    IdempotencyStore,
    InProgress,
    MemoryStore,
    StoreError,
    as_async_store,
)
from idwise_events.testing import FakeClock

from .conftest import Outage, StoreFactory

LEASE = timedelta(minutes=5)


BAD_LEASES = [
    timedelta(0),
    timedelta(seconds=-1),
    timedelta.max,
    timedelta(days=300),
    timedelta.min,
]
BAD_LEASE_IDS = ["zero", "negative", "max", "300 days", "min"]


def claimed(result: object) -> Claimed:
    assert isinstance(result, Claimed), result
    return result


def keys_in(store: MemoryStore) -> int:
    """How many keys a MemoryStore holds, as its repr says."""
    match = re.search(r"<(\d+) keys>", repr(store))
    assert match is not None, repr(store)
    return int(match.group(1))


def renewing(store: IdempotencyStore) -> IdempotencyStore:
    """``store``, for a renew test; skipped for a DjangoStore without one yet."""
    if type(store).__name__ == "DjangoStore" and not hasattr(store, "renew"):
        pytest.skip("DjangoStore has no renew() yet")
    return store


def test_first_claim_wins_and_a_second_is_told_to_retry(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """The first claim gets a token; a concurrent one gets InProgress with the time left."""
    store = make_store(clock=clock)
    first = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))
    clock.advance(timedelta(minutes=1))

    second = store.claim("evt-1", lease=LEASE, fingerprint="a")

    assert second == InProgress(retry_after=timedelta(minutes=4))
    assert first.token
    assert not first.fingerprint_mismatch


def test_after_complete_the_key_is_completed(make_store: StoreFactory, clock: FakeClock) -> None:
    """Once completed, every later delivery is reported Completed."""
    store = make_store(clock=clock)
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    assert store.complete("evt-1", token) is True
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()
    clock.advance(LEASE * 10)  # long after the lease: still done
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()


def test_complete_is_idempotent_for_the_holder(make_store: StoreFactory, clock: FakeClock) -> None:
    """Completing twice with the same token still says True (a retried call after a lost reply)."""
    store = make_store(clock=clock)
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    assert store.complete("evt-1", token) is True
    assert store.complete("evt-1", token) is True
    assert store.release("evt-1", token) is False  # a completed event cannot be released
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()


def test_after_release_the_key_can_be_claimed_again(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """A released claim (handler failed) lets the next delivery run the event."""
    store = make_store(clock=clock)
    first = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))

    assert store.release("evt-1", first.token) is True
    second = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))

    assert second.token != first.token
    assert store.complete("evt-1", first.token) is False
    assert store.complete("evt-1", second.token) is True


def test_an_expired_lease_is_taken_over_and_the_old_token_is_fenced(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """A crashed worker's claim is taken over after its lease; its token can no longer finish."""
    store = make_store(clock=clock)
    crashed = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))
    clock.advance(LEASE)

    retry = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))

    assert retry.token != crashed.token
    assert store.complete("evt-1", crashed.token) is False
    assert store.release("evt-1", crashed.token) is False
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(retry_after=LEASE)
    assert store.complete("evt-1", retry.token) is True
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()


def test_a_late_completion_still_counts_if_nobody_took_over(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """Fencing is by token, not by time: a slow worker nobody replaced may still complete."""
    store = make_store(clock=clock)
    slow = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))
    clock.advance(LEASE * 2)

    assert store.complete("evt-1", slow.token) is True
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()


def test_retry_after_is_never_below_one_second(make_store: StoreFactory, clock: FakeClock) -> None:
    """A lease about to expire still asks for a retry after one second, not zero."""
    store = make_store(clock=clock)
    store.claim("evt-1", lease=timedelta(seconds=10), fingerprint="a")
    clock.advance(timedelta(seconds=9.5))

    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(
        retry_after=timedelta(seconds=1)
    )


def test_unknown_keys_and_tokens_are_refused(make_store: StoreFactory, clock: FakeClock) -> None:
    """Completing or releasing a key nobody claimed, or with a wrong token, does nothing."""
    store = make_store(clock=clock)
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    assert store.complete("evt-2", token) is False
    assert store.release("evt-2", token) is False
    assert store.complete("evt-1", "not-the-token") is False
    assert store.release("evt-1", "not-the-token") is False
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(retry_after=LEASE)


@pytest.mark.parametrize("stage", ["in progress", "completed", "taken over"])
def test_a_different_body_under_the_same_key_is_reported(
    make_store: StoreFactory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    stage: str,
) -> None:
    """The same key with another body is flagged and logged, never silently a duplicate."""
    store = make_store(clock=clock)
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    if stage == "completed":
        store.complete("evt-1", token)
    if stage == "taken over":
        clock.advance(LEASE)

    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        result = store.claim("evt-1", lease=LEASE, fingerprint="b")

    assert result.fingerprint_mismatch is True
    expected = {"in progress": InProgress, "completed": Completed, "taken over": Claimed}[stage]
    assert type(result) is expected
    assert "evt-1" in caplog.text
    assert "different body" in caplog.text


def test_the_same_body_is_not_reported(
    make_store: StoreFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An ordinary retry (same body) raises no mismatch warning."""
    store = make_store(clock=clock)
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    store.complete("evt-1", token)

    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()
    assert caplog.records == []


def test_a_negative_retention_is_refused(make_store: StoreFactory, clock: FakeClock) -> None:
    """It would purge claims still held: their retries would run the handlers beside them."""
    with pytest.raises(ValueError, match="retention must be zero or more"):
        make_store(clock=clock, retention=-timedelta(minutes=10))


def test_purge_removes_what_it_should_and_nothing_else(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """Purge forgets completed keys past the retention and claims expired as long ago, only."""
    retention = timedelta(days=30)
    store = make_store(clock=clock, retention=retention)

    old_done = claimed(store.claim("old-done", lease=LEASE, fingerprint="a")).token
    store.complete("old-done", old_done)
    store.claim("old-abandoned", lease=LEASE, fingerprint="a")
    clock.advance(retention)
    recent_done = claimed(store.claim("recent-done", lease=LEASE, fingerprint="a")).token
    store.complete("recent-done", recent_done)
    store.claim("recent-abandoned", lease=LEASE, fingerprint="a")
    clock.advance(LEASE * 2)  # everything above is now past its lease
    store.claim("live", lease=LEASE, fingerprint="a")

    # A MemoryStore forgets as it goes (every so many claims): purge removes the rest.
    forgotten = 5 - keys_in(store) if isinstance(store, MemoryStore) else 0
    assert store.purge() == 2 - forgotten
    assert store.purge() == 0

    assert store.claim("live", lease=LEASE, fingerprint="a") == InProgress(retry_after=LEASE)
    # Another body tells what is remembered: a kept key reports the mismatch, a forgotten one
    # is claimed afresh, with no memory of the first body. Expired but recent claims are kept
    # (and taken over as usual).
    keys = ["recent-done", "recent-abandoned", "old-done", "old-abandoned"]
    results = {key: store.claim(key, lease=LEASE, fingerprint="b") for key in keys}
    assert {
        key: (type(result), result.fingerprint_mismatch) for key, result in results.items()
    } == {
        "recent-done": (Completed, True),
        "recent-abandoned": (Claimed, True),
        "old-done": (Claimed, False),
        "old-abandoned": (Claimed, False),
    }


def test_sixteen_threads_claiming_the_same_keys_get_one_claim_per_key(
    make_store: StoreFactory,
) -> None:
    """Under real concurrency every key is claimed exactly once."""
    store = make_store()
    keys = [f"evt-{number}" for number in range(500)]
    start = threading.Barrier(16)
    wins: list[str] = []
    errors: list[BaseException] = []
    wins_lock = threading.Lock()

    def worker() -> None:
        try:
            start.wait(timeout=30)
            mine = [
                key
                for key in keys
                if isinstance(store.claim(key, lease=LEASE, fingerprint="a"), Claimed)
            ]
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
            return
        with wins_lock:
            wins.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert Counter(wins) == Counter(keys)


# Keys a valid payload can produce (an eventId is any JSON string: NUL included; a Mapping or a
# caller may hold a lone surrogate), and keys of any length.
ODD_KEYS = [
    "evt\x00with-nul",
    "evt-\ud800-lone-surrogate",
    "x" * 1000,
    "é" * 300,
    "ünïcödé ✓ 事件",
    "sha256:" + "a" * 64,
    "",
]


@pytest.mark.parametrize(
    "key",
    ODD_KEYS,
    ids=["nul", "surrogate", "long", "long-non-ascii", "non-ascii", "digest-like", "empty"],
)
def test_any_key_a_payload_can_carry_is_claimable(
    make_store: StoreFactory, clock: FakeClock, key: str
) -> None:
    """Every text is a key on every backend, with the full claim/complete cycle."""
    store = make_store(clock=clock)
    token = claimed(store.claim(key, lease=LEASE, fingerprint="a")).token

    assert store.claim(key, lease=LEASE, fingerprint="a") == InProgress(retry_after=LEASE)
    assert store.complete(key, token) is True
    assert store.claim(key, lease=LEASE, fingerprint="a") == Completed()
    assert store.release(key, token) is False


@pytest.mark.parametrize(
    ("first", "second"),
    [("a\x00b", "a\x00c"), ("\ud800a", "\ud800b"), ("x" * 300 + "a", "x" * 300 + "b"), ("é", "e")],
    ids=["nul", "surrogate", "long", "accent"],
)
def test_keys_that_differ_are_different_events_however_they_are_stored(
    make_store: StoreFactory, first: str, second: str
) -> None:
    """Keys stored in another form (a digest) still tell apart events that differ anywhere."""
    store = make_store()
    claimed(store.claim(first, lease=LEASE, fingerprint="a"))

    claimed(store.claim(second, lease=LEASE, fingerprint="a"))


@pytest.mark.parametrize(
    "fingerprint",
    ["sha256:" + "f" * 64, "f" * 200, "fp\x00nul", "fp-\ud800", "é" * 10],
    ids=["prefixed-digest", "long", "nul", "surrogate", "non-ascii"],
)
def test_fingerprints_of_any_form_behave_alike_on_every_backend(
    make_store: StoreFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture, fingerprint: str
) -> None:
    """Any fingerprint is stored; the same one is no mismatch, another one is."""
    store = make_store(clock=clock)
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint=fingerprint)).token

    assert store.claim("evt-1", lease=LEASE, fingerprint=fingerprint) == InProgress(LEASE)
    assert store.complete("evt-1", token) is True
    assert store.claim("evt-1", lease=LEASE, fingerprint=fingerprint) == Completed()
    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        assert store.claim("evt-1", lease=LEASE, fingerprint=fingerprint + "x") == Completed(
            fingerprint_mismatch=True
        )
    assert "different body" in caplog.text


@pytest.mark.parametrize("lease", BAD_LEASES, ids=BAD_LEASE_IDS)
def test_a_lease_that_cannot_hold_is_refused_at_the_call(
    make_store: StoreFactory, lease: timedelta
) -> None:
    """Zero, negative, overflowing or absurdly long leases raise ValueError and claim nothing."""
    store = make_store()

    with pytest.raises(ValueError, match="lease must be more than zero and at most 1 day"):
        store.claim("evt-1", lease=lease, fingerprint="a")

    claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))


def test_a_lease_of_exactly_the_maximum_is_accepted(make_store: StoreFactory) -> None:
    """The bounds are inclusive at the top: one day is a valid lease."""
    store = make_store()
    claimed(store.claim("evt-1", lease=timedelta(days=1), fingerprint="a"))


def test_renew_extends_the_lease_from_now(make_store: StoreFactory, clock: FakeClock) -> None:
    """A renewed claim stays exclusive past its first lease, until now + the new lease."""
    store = renewing(make_store(clock=clock))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    clock.advance(timedelta(minutes=4))

    assert store.renew("evt-1", token, lease=LEASE) is True
    clock.advance(timedelta(minutes=3))  # 7 minutes: past the first lease, within the renewed one

    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(timedelta(minutes=2))
    clock.advance(timedelta(minutes=2))  # the renewed lease ends: taken over as usual
    assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)
    assert store.renew("evt-1", token, lease=LEASE) is False


def test_renew_can_shorten_the_lease(make_store: StoreFactory, clock: FakeClock) -> None:
    """The new expiry is now + lease, whatever the old one was."""
    store = renewing(make_store(clock=clock))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    assert store.renew("evt-1", token, lease=timedelta(seconds=30)) is True

    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(timedelta(seconds=30))


def test_an_expired_lease_nobody_took_over_can_be_renewed(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """The token still holds the claim once its lease ran out, until another claim takes it over."""
    store = renewing(make_store(clock=clock))
    slow = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    clock.advance(LEASE * 2)

    assert store.renew("evt-1", slow, lease=LEASE) is True

    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(LEASE)
    assert store.complete("evt-1", slow) is True


def test_a_token_that_was_taken_over_cannot_renew(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """After a takeover the old token's renew is False and leaves the new holder's lease alone."""
    store = renewing(make_store(clock=clock))
    crashed = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    clock.advance(LEASE)
    retry = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    clock.advance(timedelta(minutes=1))

    assert store.renew("evt-1", crashed, lease=timedelta(days=1)) is False

    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(timedelta(minutes=4))
    assert store.renew("evt-1", retry, lease=LEASE) is True
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(LEASE)


@pytest.mark.parametrize("end", ["completed", "released"])
def test_a_finished_claim_cannot_be_renewed(
    make_store: StoreFactory, clock: FakeClock, end: str
) -> None:
    """Renew is False once the claim was completed or released, and changes nothing."""
    store = renewing(make_store(clock=clock))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    if end == "completed":
        assert store.complete("evt-1", token) is True
    else:
        assert store.release("evt-1", token) is True

    assert store.renew("evt-1", token, lease=LEASE) is False

    if end == "completed":
        assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()
    else:
        assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)


def test_unknown_keys_and_tokens_cannot_renew(make_store: StoreFactory, clock: FakeClock) -> None:
    """Renewing a key nobody claimed, or with another token, is False."""
    store = renewing(make_store(clock=clock))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    assert store.renew("evt-2", token, lease=LEASE) is False
    assert store.renew("evt-1", "not-the-token", lease=LEASE) is False
    clock.advance(LEASE)
    assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)


@pytest.mark.parametrize("lease", BAD_LEASES, ids=BAD_LEASE_IDS)
def test_renew_refuses_a_lease_that_cannot_hold(
    make_store: StoreFactory, clock: FakeClock, lease: timedelta
) -> None:
    """A lease of zero or less, or over a day, raises ValueError and leaves the claim as it was."""
    store = renewing(make_store(clock=clock))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    with pytest.raises(ValueError, match="lease must be more than zero and at most 1 day"):
        store.renew("evt-1", token, lease=lease)

    clock.advance(LEASE)
    assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)


def test_renew_and_a_takeover_racing_never_both_win(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """On expired leases, a renew and a takeover at once: for each key exactly one of them wins."""
    store = renewing(make_store(clock=clock))
    keys = [f"evt-{number}" for number in range(200)]
    tokens = {key: claimed(store.claim(key, lease=LEASE, fingerprint="a")).token for key in keys}
    clock.advance(LEASE)
    start = threading.Barrier(2)
    renewed: dict[str, bool] = {}
    taken_over: dict[str, bool] = {}
    errors: list[BaseException] = []

    def renew_all() -> None:
        try:
            start.wait(timeout=30)
            for key in keys:
                renewed[key] = store.renew(key, tokens[key], lease=LEASE)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    def take_over_all() -> None:
        try:
            start.wait(timeout=30)
            for key in keys:
                result = store.claim(key, lease=LEASE, fingerprint="a")
                taken_over[key] = isinstance(result, Claimed)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=renew_all), threading.Thread(target=take_over_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert [key for key in keys if renewed[key] == taken_over[key]] == []
    # Whoever won holds the key: the first token completes exactly the keys it renewed.
    assert {key: store.complete(key, tokens[key]) for key in keys} == renewed


def test_the_async_view_renews_too(make_store: StoreFactory, clock: FakeClock) -> None:
    """`as_async_store(store).renew` behaves as the store's own renew."""
    store = as_async_store(renewing(make_store(clock=clock)))

    async def flow() -> None:
        token = claimed(await store.claim("evt-1", lease=LEASE, fingerprint="a")).token
        clock.advance(LEASE * 2)
        assert await store.renew("evt-1", token, lease=LEASE) is True
        assert await store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(LEASE)
        with pytest.raises(ValueError, match="lease must be more than zero"):
            await store.renew("evt-1", token, lease=timedelta(0))
        assert await store.complete("evt-1", token) is True
        assert await store.renew("evt-1", token, lease=LEASE) is False

    asyncio.run(flow())


@pytest.mark.parametrize("operation", ["complete", "renew"])
def test_an_unavailable_backend_gives_store_error(
    make_store: StoreFactory, outage: Outage, operation: str
) -> None:
    """Renew, like complete, raises StoreError within the store's time limit when the backend hangs.

    A lease that cannot hold is still a ValueError: it is refused before the backend is asked.
    """
    store = renewing(make_store(**outage.options))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

    calls = {
        "renew": lambda: store.renew("evt-1", token, lease=LEASE),
        "complete": lambda: store.complete("evt-1", token),
    }

    with outage.lock(store):
        with pytest.raises(StoreError) as caught:
            calls[operation]()
        with pytest.raises(ValueError, match="lease must be more than zero"):
            store.renew("evt-1", token, lease=timedelta(0))

    assert caught.value.__cause__ is not None
    assert isinstance(store.claim("evt-2", lease=LEASE, fingerprint="a"), Claimed)
