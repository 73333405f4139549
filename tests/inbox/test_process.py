"""The processor on every inbox: process, retries, dead letters, replays, fencing, sweeps."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from idwise_events import Dispatcher, Event, FinishedJourney, NoAuth, StoreError
from idwise_events._inbox import Delivery, DeliveryState, Inbox
from idwise_events._memory_inbox import MemoryInbox
from idwise_events._process import (
    ProcessOutcome,
    RetryPolicy,
    process,
    process_async,
    sweep,
)
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import FakeClock, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from ..conftest import CANARY, cancel_once, require_postgres_programs
from .conftest import InboxBackend, accept_event

QUICK = RetryPolicy(first_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=2))
WAIT = 30.0  # seconds, for bounded waits; no test measures time


@pytest.fixture(autouse=True)
def _no_auth_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idwise_events")


def dispatcher_for(inbox: Inbox, **options: object) -> Dispatcher:
    return Dispatcher(verifier=NoAuth(), inbox=inbox, **options)  # type: ignore[arg-type]


def delivery(inbox: Inbox, delivery_id: int) -> Delivery:
    found = inbox.get(delivery_id)
    assert found is not None
    return found


def process_until_settled(dispatcher: Dispatcher, delivery_id: int) -> list[ProcessOutcome]:
    """Process as a worker would, each time it is due, until it is done or dead."""
    outcomes: list[ProcessOutcome] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        outcome = process(dispatcher, delivery_id, retries=QUICK)
        if outcome is not ProcessOutcome.SKIPPED:
            outcomes.append(outcome)
        if outcome in (ProcessOutcome.DONE, ProcessOutcome.DEAD):
            return outcomes
        time.sleep(0.005)
    raise AssertionError(f"not settled within {WAIT}s: {outcomes}")


def test_a_job_for_a_delivery_this_inbox_lacks_is_a_warning_and_a_done_one_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The web side wrote to another inbox (another database, a MemoryInbox of its own).

    The job finds nothing, and says so at WARNING, where a skip of a known delivery does not.
    """
    web_side = SqlInbox(f"sqlite:///{tmp_path / 'web.db'}")
    workers = SqlInbox(f"sqlite:///{tmp_path / 'workers.db'}")
    accept_event(web_side)
    stray = accept_event(web_side).id  # (id 2: the workers' inbox has only id 1)
    dispatcher = dispatcher_for(workers)
    done = accept_event(workers).id
    assert process(dispatcher, done) is ProcessOutcome.DONE
    caplog.set_level(logging.DEBUG, logger="idwise_events")
    caplog.clear()

    assert process(dispatcher, stray) is ProcessOutcome.SKIPPED
    assert asyncio.run(process_async(dispatcher, stray)) is ProcessOutcome.SKIPPED
    assert process(dispatcher, done) is ProcessOutcome.SKIPPED

    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert all(
        f"inbox delivery {stray} is not in this worker's inbox" in r.getMessage() for r in warned
    )
    assert "workers.db" in warned[0].getMessage()
    [known] = [
        r for r in caplog.records if r.levelno == logging.DEBUG and "skipped" in r.getMessage()
    ]
    assert f"inbox delivery {done} skipped" in known.getMessage()
    web_side.close()
    workers.close()


def test_an_accepted_delivery_is_processed_once_and_logged_without_its_body(
    inbox_backend: InboxBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """process() runs the handlers, completes it; a second job finds nothing to do."""
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    seen: list[Event] = []
    dispatcher.on(FinishedJourney)(seen.append)
    event = make_event(FinishedJourney, reference_no=CANARY)
    delivery_id = accept_event(inbox, event).id

    assert process(dispatcher, delivery_id) is ProcessOutcome.DONE
    assert process(dispatcher, delivery_id) is ProcessOutcome.SKIPPED

    assert seen == [event]
    assert delivery(inbox, delivery_id).state is DeliveryState.DONE
    records = [r for r in caplog.records if getattr(r, "outcome", None) == "done"]
    assert len(records) == 1
    record = records[0]
    assert (record.delivery_id, record.event_id, record.attempts) == (  # type: ignore[attr-defined]
        delivery_id,
        event.event_id,
        1,
    )
    assert CANARY not in caplog.text


def test_a_failing_handler_is_retried_with_backoff_until_it_succeeds(
    inbox_backend: InboxBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Two failures are retried, the third attempt succeeds.

    Each failure's error is kept, and logged with its traceback.
    """
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    calls: list[int] = []

    @dispatcher.on(FinishedJourney)
    def flaky(event: FinishedJourney) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("crm\x1b[31m down")

    delivery_id = accept_event(inbox).id

    outcomes = process_until_settled(dispatcher, delivery_id)

    assert outcomes == [ProcessOutcome.RETRIED, ProcessOutcome.RETRIED, ProcessOutcome.DONE]
    done = delivery(inbox, delivery_id)
    assert (done.state, done.attempts) == (DeliveryState.DONE, 3)
    assert done.last_error == "ConnectionError: crm\\x1b[31m down"
    retried = [r for r in caplog.records if getattr(r, "outcome", None) == "retried"]
    assert [type(r.exc_info[1]) for r in retried if r.exc_info] == [ConnectionError] * 2


def test_a_permanent_failure_becomes_a_dead_letter_and_a_replay_succeeds(
    inbox_backend: InboxBackend,
) -> None:
    """After max_attempts the delivery is dead; replayed once the bug is fixed, it is done."""
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    fixed = threading.Event()
    calls: list[int] = []

    @dispatcher.on(FinishedJourney)
    def buggy(event: FinishedJourney) -> None:
        calls.append(1)
        if not fixed.is_set():
            raise KeyError("journey")

    delivery_id = accept_event(inbox).id
    policy = RetryPolicy(
        max_attempts=2, first_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=1)
    )
    outcomes = []
    for _ in range(1000):
        outcome = process(dispatcher, delivery_id, retries=policy)
        if outcome is not ProcessOutcome.SKIPPED:
            outcomes.append(outcome)
        if outcome is ProcessOutcome.DEAD:
            break
        time.sleep(0.005)

    assert outcomes == [ProcessOutcome.RETRIED, ProcessOutcome.DEAD]
    dead = delivery(inbox, delivery_id)
    assert (dead.state, dead.last_error) == (DeliveryState.DEAD, "KeyError: 'journey'")

    fixed.set()
    assert inbox.replay(delivery_id)
    assert process(dispatcher, delivery_id, retries=policy) is ProcessOutcome.DONE
    assert len(calls) == 3
    assert delivery(inbox, delivery_id).replays == 1


def test_a_body_that_cannot_be_parsed_is_buried_at_once(inbox_backend: InboxBackend) -> None:
    """A PayloadError can never succeed: dead on the first attempt, no handler run."""
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    seen: list[Event] = []
    dispatcher.on_any(seen.append)
    delivery_id = accept_event(inbox, body=b'{"event": "Finished Journey", "body": []}').id

    assert process(dispatcher, delivery_id) is ProcessOutcome.DEAD

    dead = delivery(inbox, delivery_id)
    assert dead.state is DeliveryState.DEAD
    assert (dead.last_error or "").startswith("PayloadError: ")
    assert seen == []


def test_a_delivery_over_a_lowered_limit_is_buried_with_its_last_error(
    inbox_backend: InboxBackend,
) -> None:
    """Failed under a higher limit, then taken by a worker with a lower one: its error is kept."""
    clock = FakeClock()
    inbox = inbox_backend.make(clock=clock)
    dispatcher = dispatcher_for(inbox)

    @dispatcher.on_any
    def failing(event: Event) -> None:
        raise RuntimeError("the CRM is down")

    delivery_id = accept_event(inbox).id
    for _ in range(3):
        assert process(dispatcher, delivery_id, clock=clock) is ProcessOutcome.RETRIED
        clock.advance(hours=1)

    lowered = RetryPolicy(max_attempts=2)
    assert process(dispatcher, delivery_id, retries=lowered, clock=clock) is ProcessOutcome.DEAD

    dead = delivery(inbox, delivery_id)
    assert dead.last_error == (
        "not run: attempt 4, over the limit of 2; last error: RuntimeError: the CRM is down"
    )


def test_a_delivery_whose_worker_dies_every_time_is_buried_once_its_attempts_are_used(
    inbox_backend: InboxBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed mid-handler (out of memory, kill -9), a worker records nothing: its attempt counts.

    After the last allowed attempt's lease lapses, the next take buries the delivery without
    running the handlers, rather than handing it to a new worker forever.
    """
    clock = FakeClock()
    inbox = inbox_backend.make(clock=clock)
    dispatcher = dispatcher_for(inbox)
    seen: list[Event] = []
    dispatcher.on_any(seen.append)
    policy = RetryPolicy(max_attempts=3)
    delivery_id = accept_event(inbox).id
    for _ in range(policy.max_attempts):  # each attempt's worker dies while its handlers run
        assert inbox.take(delivery_id, lease=dispatcher.lease) is not None
        clock.advance(dispatcher.lease * 2)
    assert inbox.due(older_than=timedelta(0), limit=10) == [delivery_id]

    assert process(dispatcher, delivery_id, retries=policy, clock=clock) is ProcessOutcome.DEAD

    dead = delivery(inbox, delivery_id)
    assert (dead.state, dead.attempts) == (DeliveryState.DEAD, 4)
    assert (dead.last_error or "").startswith("not run: attempt 4, over the limit of 3; ")
    assert seen == []
    assert inbox.due(older_than=timedelta(0), limit=10) == []
    (record,) = [r for r in caplog.records if getattr(r, "delivery_id", None) == delivery_id]
    assert record.levelname == "ERROR"


def test_the_last_allowed_attempt_after_a_dead_worker_still_runs(
    inbox_backend: InboxBackend,
) -> None:
    """Attempts 1 and 2 died; attempt 3 of 3 runs the handlers and completes."""
    clock = FakeClock()
    inbox = inbox_backend.make(clock=clock)
    dispatcher = dispatcher_for(inbox)
    seen: list[Event] = []
    dispatcher.on_any(seen.append)
    delivery_id = accept_event(inbox).id
    for _ in range(2):
        assert inbox.take(delivery_id, lease=dispatcher.lease) is not None
        clock.advance(dispatcher.lease * 2)

    outcome = process(dispatcher, delivery_id, retries=RetryPolicy(max_attempts=3), clock=clock)

    assert outcome is ProcessOutcome.DONE
    assert len(seen) == 1
    assert delivery(inbox, delivery_id).attempts == 3


def test_a_job_delivered_twice_at_once_runs_the_handlers_once(
    inbox_backend: InboxBackend,
) -> None:
    """Two concurrent process() calls for one id: one runs the handlers, the other skips."""
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    running = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        calls.append(1)
        running.set()
        release.wait(WAIT)

    delivery_id = accept_event(inbox).id
    outcomes: list[ProcessOutcome] = []
    first = threading.Thread(target=lambda: outcomes.append(process(dispatcher, delivery_id)))
    first.start()
    assert running.wait(WAIT)

    second = process(dispatcher, delivery_id)
    release.set()
    first.join(WAIT)

    assert (second, outcomes) == (ProcessOutcome.SKIPPED, [ProcessOutcome.DONE])
    assert calls == [1]


def test_a_worker_whose_lease_lapsed_cannot_complete(
    inbox_backend: InboxBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Taken over after its lease, the first worker's completion is refused and warned about."""
    clock = FakeClock()
    inbox = inbox_backend.make(clock=clock)
    dispatcher = dispatcher_for(inbox)
    taken_over: list[object] = []

    @dispatcher.on(FinishedJourney)
    def stalled(event: FinishedJourney) -> None:
        clock.advance(dispatcher.lease * 2)  # as if the handler outlived its lease
        taken_over.append(inbox.take(delivery_id, lease=dispatcher.lease))

    delivery_id = accept_event(inbox).id

    assert process(dispatcher, delivery_id, clock=clock) is ProcessOutcome.DONE

    assert taken_over[0] is not None
    assert delivery(inbox, delivery_id).state is DeliveryState.PROCESSING  # the new holder's
    assert "done here but not recorded after attempt 1" in caplog.text
    assert "the lease was lost" in caplog.text


@pytest.mark.parametrize("run", ["process", "process_async"])
def test_an_outcome_the_inbox_could_not_record_is_recorded_once_it_is_back(
    run: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stopped while the handler runs, back 2 s later: done, the handler ran once.

    Left to the engine, the job's retry would find the delivery held and skip it, and once its
    lease lapsed the sweep would run the handler again.
    """
    require_postgres_programs()
    with TemporaryPostgres() as server:
        inbox = SqlInbox(server.url, network_timeout=timedelta(seconds=2))
        inbox.create_table()
        dispatcher = dispatcher_for(inbox, lease=timedelta(seconds=60))
        runs: list[Event] = []

        def start_again() -> None:
            time.sleep(2)
            server.start()

        restart = threading.Thread(target=start_again)

        @dispatcher.on(FinishedJourney)
        def stops_the_database(event: FinishedJourney) -> None:
            runs.append(event)
            server.stop()
            restart.start()

        delivery_id = accept_event(inbox).id
        try:
            if run == "process":
                outcome = process(dispatcher, delivery_id)
            else:
                outcome = asyncio.run(process_async(dispatcher, delivery_id))
        finally:  # not left to start a server once this one is gone
            if restart.is_alive():
                restart.join(timeout=WAIT)

        assert outcome is ProcessOutcome.DONE
        assert len(runs) == 1
        assert delivery(inbox, delivery_id).state is DeliveryState.DONE
        assert "its handlers ran, and the inbox could not record it" in caplog.text
        inbox.close()


def test_an_outcome_unrecorded_for_a_whole_lease_is_left_to_the_engine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The inbox still down once the lease has lapsed: the StoreError is raised, and said."""
    require_postgres_programs()
    with TemporaryPostgres() as server:
        inbox = SqlInbox(server.url, network_timeout=timedelta(seconds=2))
        inbox.create_table()
        dispatcher = dispatcher_for(inbox, lease=timedelta(seconds=2))
        dispatcher.on(FinishedJourney)(lambda event: server.stop())
        delivery_id = accept_event(inbox).id

        with pytest.raises(StoreError):
            process(dispatcher, delivery_id)

        assert "could not record it before its lease lapsed" in caplog.text
        server.start()
        assert delivery(inbox, delivery_id).state is DeliveryState.PROCESSING
        inbox.close()


class _Down(MemoryInbox):
    """An inbox whose database is down once a delivery is taken: renewals and completion fail."""

    def __init__(self) -> None:
        super().__init__()
        self.completions = 0

    def renew(self, delivery_id: int, token: str, *, lease: timedelta) -> bool:
        raise StoreError("memory inbox unavailable (as if its database were down)")

    def complete(self, delivery_id: int, token: str) -> bool:
        self.completions += 1
        raise StoreError("memory inbox unavailable (as if its database were down)")


def test_an_outcome_is_not_tried_again_once_the_lease_has_lapsed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lease lapsed while the handler ran (no renewal could land): one try, then raised.

    Another worker may hold the delivery by then: the lease counts from the take or the last
    renewal that landed, not from the handlers' end.
    """
    inbox = _Down()
    dispatcher = dispatcher_for(inbox, lease=timedelta(seconds=1))
    dispatcher.on(FinishedJourney)(lambda event: time.sleep(1.2))
    delivery_id = accept_event(inbox).id

    with pytest.raises(StoreError):
        process(dispatcher, delivery_id)

    assert inbox.completions == 1
    assert "could not record it before its lease lapsed (" in caplog.text
    assert "; tries: 1); it runs again" in caplog.text


def test_process_async_cancelled_while_it_waits_to_record_says_the_delivery_stays_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cancelled between two tries to record the outcome: held until its lease lapses, said."""
    inbox = _Down()
    failed = threading.Event()
    complete = inbox.complete

    def failing_complete(delivery_id: int, token: str) -> bool:
        failed.set()
        return complete(delivery_id, token)

    inbox.complete = failing_complete  # type: ignore[method-assign]
    dispatcher = dispatcher_for(inbox, lease=timedelta(minutes=5))
    dispatcher.on(FinishedJourney)(lambda event: None)
    delivery_id = accept_event(inbox).id

    asyncio.run(cancel_once(failed, process_async(dispatcher, delivery_id)))

    assert inbox.completions == 1
    assert delivery(inbox, delivery_id).state is DeliveryState.PROCESSING
    assert (
        f"inbox delivery {delivery_id} has no outcome recorded: the worker stopped before trying"
        " again; it runs again once its lease lapses"
    ) in caplog.text


def test_a_stopped_worker_gives_the_delivery_back(
    inbox_backend: InboxBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """KeyboardInterrupt in a handler: the delivery is pending and due now, and it propagates.

    The attempt is not counted: the handler did not fail, its worker was stopped. A warning
    says so, since no other line about that attempt is logged.
    """
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)

    @dispatcher.on(FinishedJourney)
    def interrupted(event: FinishedJourney) -> None:
        raise KeyboardInterrupt

    event = make_event(FinishedJourney)
    delivery_id = accept_event(inbox, event).id
    with pytest.raises(KeyboardInterrupt):
        process(dispatcher, delivery_id)

    back = delivery(inbox, delivery_id)
    assert (back.state, back.attempts) == (DeliveryState.PENDING, 0)
    assert inbox.due(older_than=timedelta(0), limit=10) == [delivery_id]
    (record,) = [r for r in caplog.records if getattr(r, "outcome", None) == "given_back"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        f"inbox delivery {delivery_id} Finished Journey {event.event_id}:"
        " interrupted (KeyboardInterrupt): given back after "
    )


@pytest.mark.parametrize("runs", ["process", "process_async"])
def test_a_worker_stopped_after_its_delivery_was_taken_over_says_it_gave_nothing_back(
    inbox_backend: InboxBackend, caplog: pytest.LogCaptureFixture, runs: str
) -> None:
    """Paused past its lease, then stopped: the other worker keeps it, and the log says so."""
    clock = FakeClock()
    inbox = inbox_backend.make(clock=clock)
    dispatcher = dispatcher_for(inbox, lease=timedelta(seconds=30))
    taken_over = []

    @dispatcher.on(FinishedJourney)
    def paused_then_stopped(event: FinishedJourney) -> None:
        clock.advance(seconds=60)  # past the lease: another worker takes the delivery over
        taken_over.append(inbox.take(delivery_id, lease=timedelta(seconds=30)))
        raise KeyboardInterrupt

    delivery_id = accept_event(inbox).id

    def run() -> None:
        if runs == "process":
            process(dispatcher, delivery_id, clock=clock)
        else:
            asyncio.run(process_async(dispatcher, delivery_id, clock=clock))

    with pytest.raises(KeyboardInterrupt):
        run()

    assert taken_over[0] is not None
    assert delivery(inbox, delivery_id).state is DeliveryState.PROCESSING  # the other's
    outcomes = [getattr(r, "outcome", None) for r in caplog.records]
    assert "given_back" not in outcomes  # it was "given back ...; due again now" in `process`
    (record,) = [r for r in caplog.records if getattr(r, "outcome", None) == "not_given_back"]
    assert ": interrupted (" in record.getMessage()
    assert record.getMessage().endswith(
        "; not given back: its lease had lapsed and another worker holds it now"
    )


def test_process_async_awaits_coroutine_handlers_and_a_cancelled_task_gives_back(
    inbox_backend: InboxBackend,
) -> None:
    """process_async runs async handlers; cancelling it mid-handler gives the delivery back."""
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    started = asyncio.Event()
    seen: list[str] = []

    @dispatcher.on(FinishedJourney)
    async def handler(event: FinishedJourney) -> None:
        seen.append(event.body.reference_no or "")
        if event.body.reference_no == "hang":
            started.set()
            await asyncio.sleep(WAIT)

    done_id = accept_event(inbox).id
    hang_id = accept_event(inbox, make_event(FinishedJourney, reference_no="hang")).id

    async def main() -> tuple[ProcessOutcome, bool]:
        outcome = await process_async(dispatcher, done_id)
        task = asyncio.create_task(process_async(dispatcher, hang_id))
        await asyncio.wait_for(started.wait(), WAIT)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return outcome, True
        return outcome, False

    assert asyncio.run(main()) == (ProcessOutcome.DONE, True)
    assert delivery(inbox, done_id).state is DeliveryState.DONE
    assert delivery(inbox, hang_id).state is DeliveryState.PENDING
    assert len(seen) == 2


def test_process_async_cancelled_while_a_plain_handler_runs_gives_back_once_it_ends(
    inbox_backend: InboxBackend,
) -> None:
    """A thread cannot be stopped: the delivery is given back, uncounted, once it ends.

    Until then it stays held, so no other worker runs the handler beside the run still going.
    """
    inbox = inbox_backend.make()
    dispatcher = dispatcher_for(inbox)
    started, finish = threading.Event(), threading.Event()

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        started.set()
        finish.wait(WAIT)

    delivery_id = accept_event(inbox).id

    async def main() -> tuple[DeliveryState, DeliveryState]:
        await cancel_once(started, process_async(dispatcher, delivery_id))
        during = (await asyncio.to_thread(delivery, inbox, delivery_id)).state  # (Django's ORM)
        finish.set()
        for _ in range(int(WAIT / 0.01)):
            after = await asyncio.to_thread(delivery, inbox, delivery_id)
            if after.state is not DeliveryState.PROCESSING:
                break
            await asyncio.sleep(0.01)
        return during, after.state

    assert asyncio.run(main()) == (DeliveryState.PROCESSING, DeliveryState.PENDING)
    assert delivery(inbox, delivery_id).attempts == 0
    assert inbox.due(older_than=timedelta(0), limit=10) == [delivery_id]


def test_process_async_cancelled_while_a_thread_takes_the_delivery_gives_it_back() -> None:
    """A blocking inbox's take runs in a worker thread: once it returns, it is given back.

    The thread cannot be stopped; without that, the delivery would be held by no one until its
    lease lapsed.
    """
    from idwise_events import MemoryInbox

    taking = threading.Event()

    class SlowBlockingInbox(MemoryInbox):
        blocking = True  # as SqlInbox and DjangoInbox

        def take(self, delivery_id: int, *, lease: timedelta) -> Any:
            taking.set()
            time.sleep(0.2)  # a database round trip
            return super().take(delivery_id, lease=lease)

    inbox = SlowBlockingInbox()
    dispatcher = dispatcher_for(inbox)
    dispatcher.on(FinishedJourney)(lambda event: None)
    delivery_id = accept_event(inbox).id

    async def main() -> None:
        await cancel_once(taking, process_async(dispatcher, delivery_id))
        await asyncio.sleep(0.4)  # the thread's take returned, and was given back

    asyncio.run(main())
    back = delivery(inbox, delivery_id)
    assert back.state is DeliveryState.PENDING
    assert inbox.due(older_than=timedelta(0), limit=10) == [delivery_id]


def test_process_async_cancelled_as_its_event_loop_ends_gives_back() -> None:
    """A worker's shutdown cancels the job, then ends its loop, cancelling the give-back too.

    The loop's thread then gives the delivery back itself, before the process ends.
    """
    from idwise_events import MemoryInbox

    class BlockingInbox(MemoryInbox):
        blocking = True  # as SqlInbox and DjangoInbox

    inbox = BlockingInbox()
    dispatcher = dispatcher_for(inbox)
    started = asyncio.Event()

    @dispatcher.on(FinishedJourney)
    async def handler(event: FinishedJourney) -> None:
        started.set()
        await asyncio.sleep(WAIT)

    delivery_id = accept_event(inbox).id

    async def stopping() -> None:
        job = asyncio.create_task(process_async(dispatcher, delivery_id))
        await asyncio.wait_for(started.wait(), WAIT)
        job.cancel()
        await asyncio.sleep(0)

    asyncio.run(stopping())
    back = delivery(inbox, delivery_id)
    assert (back.state, back.attempts) == (DeliveryState.PENDING, 0)


def test_sweep_enqueues_what_lost_its_job(inbox_backend: InboxBackend) -> None:
    """sweep() hands every due delivery's id to enqueue and counts them."""
    clock = FakeClock()
    inbox = inbox_backend.make(clock=clock)
    ids = [accept_event(inbox).id for _ in range(3)]
    clock.advance(minutes=2)
    fresh = accept_event(inbox).id
    enqueued: list[int] = []

    assert sweep(inbox, enqueued.append) == 3
    assert enqueued == ids
    assert fresh not in enqueued
    assert sweep(inbox, enqueued.append, older_than=timedelta(0), limit=1) == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_attempts": 0}, ValueError),
        ({"max_attempts": True}, TypeError),
        ({"first_delay": timedelta(0)}, ValueError),
        ({"max_delay": timedelta(seconds=-1)}, ValueError),
        ({"first_delay": timedelta(seconds=5), "max_delay": timedelta(seconds=1)}, ValueError),
        ({"first_delay": 10}, TypeError),
    ],
)
def test_a_retry_policy_that_cannot_work_is_refused(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error, match="RetryPolicy"):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_delays_grow_exponentially_within_the_ceiling() -> None:
    """Full jitter: each delay lies between zero and min(max_delay, first_delay * 2**(n-1))."""
    policy = RetryPolicy(first_delay=timedelta(seconds=10), max_delay=timedelta(minutes=1))
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 60), (50, 60), (10_000, 60)]:
        delays = [policy.delay(attempt).total_seconds() for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not stuck at zero


def test_process_needs_a_dispatcher_with_an_inbox() -> None:
    with pytest.raises(TypeError, match="inbox"):
        process(Dispatcher(verifier=NoAuth()), 1)


def test_processing_without_an_inbox_says_how_to_have_one() -> None:
    """Django users never create the Dispatcher: the error names their setting too."""
    with pytest.raises(
        TypeError,
        match=r'Dispatcher\(inbox=...\) \(the Django app.s: set IDWISE_EVENTS\["INBOX"\] = True\)',
    ):
        process(Dispatcher(verifier=NoAuth()), 1)
