"""The Inbox contract, run against every inbox: memory, SQLite, PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from idwise_events import FinishedJourney, ManuallyReviewed, StoreError
from idwise_events._inbox import LAPSED_ERROR, Delivery, DeliveryState, Inbox, Taken
from idwise_events.testing import FakeClock, make_event

from .conftest import InboxBackend, accept_event, body_of

LEASE = timedelta(minutes=5)


def taken(result: Taken | None) -> Taken:
    assert isinstance(result, Taken), result
    return result


def state_of(inbox: Inbox, delivery_id: int) -> Delivery:
    delivery = inbox.get(delivery_id)
    assert delivery is not None
    return delivery


def test_an_accepted_delivery_is_kept_pending_as_received(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """accept() stores the body and labels as given, pending and due at once."""
    inbox = inbox_backend.make(clock=clock)
    event = make_event(FinishedJourney)
    body = body_of(event)

    accepted = accept_event(inbox, event, body=body)

    assert not accepted.duplicate
    delivery = state_of(inbox, accepted.id)
    assert delivery.body == body
    assert delivery.key == event.idempotency_key
    assert (delivery.event_type, delivery.event_id) == ("Finished Journey", event.event_id)
    assert delivery.fingerprint == hashlib.sha256(body).hexdigest()
    assert delivery.state is DeliveryState.PENDING
    assert (delivery.attempts, delivery.replays) == (0, 0)
    assert delivery.received_at == clock.now == delivery.next_attempt_at
    assert (delivery.lease_expires_at, delivery.last_error, delivery.finished_at) == (None,) * 3
    assert inbox.get(accepted.id + 1000) is None


def test_a_duplicate_is_not_stored_twice_and_a_different_body_is_reported(
    inbox_backend: InboxBackend,
) -> None:
    """The same key again is a duplicate of the first id; with another body, a mismatch."""
    inbox = inbox_backend.make()
    event = make_event(FinishedJourney)
    first = accept_event(inbox, event)

    again = accept_event(inbox, event)
    changed = accept_event(inbox, event, body=body_of(event) + b" ")

    assert (again.id, again.duplicate, again.fingerprint_mismatch) == (first.id, True, False)
    assert (changed.id, changed.duplicate, changed.fingerprint_mismatch) == (first.id, True, True)
    assert inbox.stats()[DeliveryState.PENDING] == 1


def test_a_delivery_is_taken_once_and_counts_the_attempt(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """take() holds it under a lease; a second take gets None while the lease lives."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id

    first = taken(inbox.take(delivery_id, lease=LEASE))

    assert first.token
    assert first.delivery.state is DeliveryState.PROCESSING
    assert first.delivery.attempts == 1
    assert first.delivery.lease_expires_at == clock.now + LEASE
    clock.advance(LEASE - timedelta(seconds=1))
    assert inbox.take(delivery_id, lease=LEASE) is None
    assert inbox.take(delivery_id + 1000, lease=LEASE) is None


def test_after_the_lease_lapses_a_new_token_takes_it_and_the_old_one_is_fenced(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """The old holder can no longer renew, complete, retry or bury: only the new one can."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id
    old = taken(inbox.take(delivery_id, lease=LEASE))
    clock.advance(LEASE)

    new = taken(inbox.take(delivery_id, lease=LEASE))

    assert new.token != old.token
    assert new.delivery.attempts == 2
    assert new.delivery.last_error == LAPSED_ERROR  # the lost attempt leaves a trace
    assert inbox.renew(delivery_id, old.token, lease=LEASE) is False
    assert inbox.complete(delivery_id, old.token) is False
    assert inbox.retry(delivery_id, old.token, at=clock.now, error="E: x") is False
    assert inbox.bury(delivery_id, old.token, error="E: x") is False
    assert state_of(inbox, delivery_id).state is DeliveryState.PROCESSING
    assert inbox.complete(delivery_id, new.token) is True
    assert state_of(inbox, delivery_id).state is DeliveryState.DONE


def test_a_due_retry_is_taken_with_its_last_error_kept(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """Only a lapsed lease's takeover records `LAPSED_ERROR`; a retry's error stays."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id
    first = taken(inbox.take(delivery_id, lease=LEASE))
    assert first.delivery.last_error is None
    assert inbox.retry(delivery_id, first.token, at=clock.now, error="RuntimeError: the CRM")

    again = taken(inbox.take(delivery_id, lease=LEASE))

    assert again.delivery.last_error == "RuntimeError: the CRM"


def test_renew_extends_the_lease_and_complete_finishes_it(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """A renewed lease is not lapsed at its first end; a completed delivery is not taken again."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id
    hold = taken(inbox.take(delivery_id, lease=LEASE))
    clock.advance(LEASE - timedelta(seconds=1))

    assert inbox.renew(delivery_id, hold.token, lease=LEASE) is True
    clock.advance(timedelta(seconds=2))
    assert inbox.take(delivery_id, lease=LEASE) is None
    assert inbox.complete(delivery_id, hold.token) is True
    # Again (a worker that did not get the answer): recorded, so True, and nothing else changes.
    assert inbox.complete(delivery_id, hold.token) is True
    assert inbox.retry(delivery_id, hold.token, at=clock.now, error="E: x") is False
    assert inbox.bury(delivery_id, hold.token, error="E: x") is False

    done = state_of(inbox, delivery_id)
    assert (done.state, done.finished_at) == (DeliveryState.DONE, clock.now)
    assert (done.next_attempt_at, done.lease_expires_at) == (None, None)
    clock.advance(timedelta(days=1))
    assert inbox.take(delivery_id, lease=LEASE) is None


def test_an_outcome_said_again_is_recorded_once_and_not_after_a_replay(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """`retry` and `bury` said twice with their token: True twice, written once.

    A worker that did not get the answer says the outcome again; a give-back said twice does
    not uncount two attempts. After a replay the old holder's outcomes are over: False.
    """
    inbox = inbox_backend.make(clock=clock)
    given_back = accept_event(inbox).id
    hold = taken(inbox.take(given_back, lease=LEASE))
    buried = accept_event(inbox).id
    doomed = taken(inbox.take(buried, lease=LEASE))

    for _ in range(2):
        assert inbox.retry(given_back, hold.token, at=clock.now, error="E: x", counted=False)
        assert inbox.bury(buried, doomed.token, error="E: y")

    assert state_of(inbox, given_back).attempts == 0  # uncounted once, not twice
    assert (state_of(inbox, buried).state, state_of(inbox, buried).attempts) == (
        DeliveryState.DEAD,
        1,
    )
    assert inbox.replay(buried)
    assert inbox.bury(buried, doomed.token, error="E: y") is False
    assert inbox.retry(buried, doomed.token, at=clock.now, error="E: z") is False
    assert state_of(inbox, buried).state is DeliveryState.PENDING


def test_a_retried_delivery_is_not_due_until_its_time_and_keeps_the_error(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """retry() gives it back pending, due at ``at``; attempts keep counting."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id
    hold = taken(inbox.take(delivery_id, lease=LEASE))
    at = clock.now + timedelta(seconds=30)

    assert inbox.retry(delivery_id, hold.token, at=at, error="TimeoutError: crm") is True

    pending = state_of(inbox, delivery_id)
    assert (pending.state, pending.next_attempt_at) == (DeliveryState.PENDING, at)
    assert (pending.last_error, pending.lease_expires_at) == ("TimeoutError: crm", None)
    assert inbox.take(delivery_id, lease=LEASE) is None
    clock.advance(timedelta(seconds=30))
    assert taken(inbox.take(delivery_id, lease=LEASE)).delivery.attempts == 2


def test_a_buried_delivery_is_dead_with_its_error_until_replayed(
    inbox_backend: InboxBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """bury() makes it dead; replay() makes it pending again, counted and logged."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id
    hold = taken(inbox.take(delivery_id, lease=LEASE))

    assert inbox.bury(delivery_id, hold.token, error="ValueError: bad\nline") is True
    dead = state_of(inbox, delivery_id)
    assert (dead.state, dead.finished_at) == (DeliveryState.DEAD, clock.now)
    assert dead.last_error == "ValueError: bad\\nline"  # control characters escaped
    clock.advance(timedelta(days=1))
    assert inbox.take(delivery_id, lease=LEASE) is None

    caplog.set_level(logging.INFO, logger="idwise_events")
    assert inbox.replay(delivery_id) is True
    replayed = state_of(inbox, delivery_id)
    assert (replayed.state, replayed.replays, replayed.attempts) == (DeliveryState.PENDING, 1, 0)
    assert (replayed.next_attempt_at, replayed.finished_at) == (clock.now, None)
    assert [r.getMessage() for r in caplog.records if "replayed on purpose" in r.getMessage()]
    assert inbox.replay(delivery_id) is False  # pending: nothing to replay
    assert taken(inbox.take(delivery_id, lease=LEASE)).delivery.attempts == 1


def test_done_deliveries_are_replayed_and_others_are_not(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """replay() takes done and dead ones; processing, pending and unknown ones say False."""
    inbox = inbox_backend.make(clock=clock)
    delivery_id = accept_event(inbox).id
    hold = taken(inbox.take(delivery_id, lease=LEASE))

    assert inbox.replay(delivery_id) is False  # processing
    assert inbox.complete(delivery_id, hold.token)
    assert inbox.replay(delivery_id) is True
    assert inbox.replay(delivery_id + 1000) is False
    assert state_of(inbox, delivery_id).replays == 1


def test_due_finds_stale_pending_and_lapsed_deliveries_only(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """due() lists pending ones due for long enough and lapsed leases, oldest first."""
    inbox = inbox_backend.make(clock=clock)
    stale = accept_event(inbox).id
    lapsed = accept_event(inbox).id
    held = accept_event(inbox).id
    done = accept_event(inbox).id
    taken(inbox.take(lapsed, lease=timedelta(seconds=30)))
    taken(inbox.take(held, lease=LEASE))
    inbox.complete(done, taken(inbox.take(done, lease=LEASE)).token)
    clock.advance(timedelta(minutes=1))
    fresh = accept_event(inbox).id

    assert inbox.due(older_than=timedelta(minutes=1), limit=10) == [stale, lapsed]
    assert inbox.due(older_than=timedelta(0), limit=10) == [stale, lapsed, fresh]
    assert inbox.due(older_than=timedelta(0), limit=1) == [stale]


def test_deliveries_are_listed_newest_first_and_filtered(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """deliveries() filters by state, event type, time and id, newest first, up to ``limit``."""
    inbox = inbox_backend.make(clock=clock)
    first = accept_event(inbox).id
    clock.advance(timedelta(hours=1))
    second = accept_event(inbox, make_event(ManuallyReviewed)).id
    third = accept_event(inbox).id
    inbox.complete(third, taken(inbox.take(third, lease=LEASE)).token)

    def ids(**filters: object) -> list[int]:
        return [delivery.id for delivery in inbox.deliveries(**filters)]  # type: ignore[arg-type]

    assert ids() == [third, second, first]
    assert ids(limit=2) == [third, second]
    assert ids(state=DeliveryState.PENDING) == [second, first]
    assert ids(event_type="Finished Journey") == [third, first]
    assert ids(since=clock.now) == [third, second]
    assert ids(state=DeliveryState.DONE, event_type="Manually Reviewed") == []
    assert ids(before_id=third, limit=1) == [second]  # the next page after `third`
    assert ids(before_id=second) == [first]
    assert ids(before_id=first) == []
    wanted = inbox.get(second)
    assert wanted is not None
    assert ids(event_id=wanted.event_id) == [second]
    assert ids(event_id="no such event", state=DeliveryState.PENDING) == []


def test_stats_counts_every_state(inbox_backend: InboxBackend, clock: FakeClock) -> None:
    """stats() has every state, zeros included."""
    inbox = inbox_backend.make(clock=clock)
    assert inbox.stats() == dict.fromkeys(DeliveryState, 0)
    for _ in range(3):
        accept_event(inbox)
    done = accept_event(inbox).id
    inbox.complete(done, taken(inbox.take(done, lease=LEASE)).token)
    held = accept_event(inbox).id
    taken(inbox.take(held, lease=LEASE))

    assert inbox.stats() == {
        DeliveryState.PENDING: 3,
        DeliveryState.PROCESSING: 1,
        DeliveryState.DONE: 1,
        DeliveryState.DEAD: 0,
    }


def test_purge_deletes_old_done_ones_and_dead_ones_only_if_asked(
    inbox_backend: InboxBackend, clock: FakeClock
) -> None:
    """purge() forgets done deliveries finished long enough ago; dead ones with ``dead=True``."""
    inbox = inbox_backend.make(clock=clock)
    event = make_event(FinishedJourney)
    old_done = accept_event(inbox, event).id
    old_dead = accept_event(inbox).id
    pending = accept_event(inbox).id
    inbox.complete(old_done, taken(inbox.take(old_done, lease=LEASE)).token)
    inbox.bury(old_dead, taken(inbox.take(old_dead, lease=LEASE)).token, error="E: x")
    clock.advance(timedelta(days=8))
    recent_done = accept_event(inbox).id
    inbox.complete(recent_done, taken(inbox.take(recent_done, lease=LEASE)).token)

    assert inbox.purge(older_than=timedelta(days=7)) == 1
    assert inbox.get(old_done) is None
    assert inbox.purge(older_than=timedelta(days=7), dead=True) == 1
    assert inbox.get(old_dead) is None
    assert {inbox.get(pending) is None, inbox.get(recent_done) is None} == {False}
    # Its key is forgotten: the same event is a new delivery again.
    assert not accept_event(inbox, event).duplicate


def test_ids_are_never_reused_after_a_purge(inbox_backend: InboxBackend, clock: FakeClock) -> None:
    """The newest delivery purged, the next one still gets a new id.

    A job, a log line or a replay naming the old id never means another delivery.
    """
    inbox = inbox_backend.make(clock=clock)
    newest = accept_event(inbox).id
    inbox.complete(newest, taken(inbox.take(newest, lease=LEASE)).token)
    clock.advance(timedelta(days=1))
    assert inbox.purge(older_than=timedelta(hours=1)) == 1

    assert accept_event(inbox).id > newest


def test_threads_taking_the_same_delivery_at_once_give_one_winner(
    inbox_backend: InboxBackend,
) -> None:
    """Under real concurrency, each delivery is taken by exactly one of 8 threads."""
    inbox = inbox_backend.make()
    ids = [accept_event(inbox).id for _ in range(40)]
    start = threading.Barrier(8)
    wins: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            start.wait(timeout=30)
            mine = [i for i in ids if inbox.take(i, lease=LEASE) is not None]
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
            return
        with lock:
            wins.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Counter(wins) == Counter(ids)


@pytest.mark.parametrize(
    "lease", [timedelta(0), timedelta(seconds=-1), timedelta(days=1, seconds=1)]
)
def test_a_lease_that_cannot_hold_is_refused(inbox_backend: InboxBackend, lease: timedelta) -> None:
    """take() and renew() refuse a lease outside (0, 1 day] with ValueError."""
    inbox = inbox_backend.make()
    delivery_id = accept_event(inbox).id
    with pytest.raises(ValueError, match="lease"):
        inbox.take(delivery_id, lease=lease)
    hold = taken(inbox.take(delivery_id, lease=LEASE))
    with pytest.raises(ValueError, match="lease"):
        inbox.renew(delivery_id, hold.token, lease=lease)


def test_an_id_no_table_can_hold_is_not_found_or_refused(inbox_backend: InboxBackend) -> None:
    """An id past 64 bits (a typo) is not found or is a ValueError, never another error."""
    inbox = inbox_backend.make()
    accept_event(inbox)
    answers: list[object] = []
    for call in (
        lambda: inbox.get(2**70),
        lambda: inbox.take(2**70, lease=LEASE),
        lambda: inbox.replay(2**70),
    ):
        try:
            answers.append(call())
        except ValueError as refused:
            answers.append(str(refused))
    for answer in answers:
        assert answer in (None, False) or "refused a value" in str(answer)


def test_an_unavailable_database_is_a_store_error(inbox_backend: InboxBackend) -> None:
    """Every call fails with StoreError (the driver's error its cause) when the database is out."""
    if inbox_backend.unavailable is None:
        pytest.skip(f"{inbox_backend.name} has no database to lose")
    with inbox_backend.unavailable() as inbox:
        calls: dict[str, Callable[[], object]] = {
            "accept": lambda: accept_event(inbox),
            "take": lambda: inbox.take(1, lease=LEASE),
            "complete": lambda: inbox.complete(1, "t"),
            "due": lambda: inbox.due(older_than=timedelta(0), limit=1),
            "replay": lambda: inbox.replay(1),
            "stats": inbox.stats,
            "purge": lambda: inbox.purge(older_than=timedelta(0)),
        }
        for name, call in calls.items():
            with pytest.raises(StoreError) as caught:
                call()
            assert caught.value.__cause__ is not None, name
            assert "CANARY" not in str(caught.value)


def test_a_call_tried_again_after_its_answer_was_lost_finds_what_it_did(
    inbox_backend: InboxBackend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An accept or a take tried again with its own values finds its own work, not another's.

    The first try committed, then its connection died before the answer, and the inbox tried
    again on a fresh connection with the same values (its token included). Its own insert is no
    duplicate (its job is still to be enqueued), and its own take is a take: the handlers would
    otherwise not run until the lease lapsed, and that attempt would be counted as a crash.
    """
    if inbox_backend.unavailable is None:
        pytest.skip(f"{inbox_backend.name} has no answer to lose")
    inbox = inbox_backend.make(clock=clock)
    event = make_event(FinishedJourney)
    same = uuid.UUID(int=42)  # the token both tries of one call use
    monkeypatch.setattr(uuid, "uuid4", lambda: same)

    first = accept_event(inbox, event)
    again = accept_event(inbox, event)
    hold = taken(inbox.take(first.id, lease=LEASE))
    retaken = taken(inbox.take(first.id, lease=LEASE))

    assert (again.id, again.duplicate) == (first.id, False)
    assert (retaken.token, retaken.delivery.attempts) == (hold.token, 1)
    monkeypatch.undo()  # another call, with a token of its own: not its work
    assert accept_event(inbox, event).duplicate
    assert inbox.take(first.id, lease=LEASE) is None
    assert state_of(inbox, first.id).attempts == 1
