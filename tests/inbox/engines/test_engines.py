"""The inbox processed by real engines: Celery on Redis, procrastinate on PostgreSQL.

Each test delivers events to the dispatcher as IDWise does (it answers 200 once the delivery is
in the inbox, and the engine's ``on_accepted`` hook enqueues the job) and runs real worker
processes; the handler counts its attempts and successful runs in PostgreSQL
(tests/inbox/engines/app.py), which is what the assertions read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import procrastinate
import psycopg
import pytest

from idwise_events import (
    BearerAuth,
    DeliveryState,
    Dispatcher,
    FinishedJourney,
    MemoryInbox,
    ProcessOutcome,
    StoreError,
    Taken,
    process,
)
from idwise_events.inbox.procrastinate import install as install_procrastinate
from idwise_events.testing import build_request, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from ...cli.conftest import run
from ...conftest import require_postgres_programs
from .app import (
    DATABASE_ENV,
    RETRIES,
    SWEEP_EVERY,
    accept,
    celery_engine,
    create_effects_table,
    effects,
    journey_id,
    libpq_url,
    procrastinate_engine,
)
from .conftest import Engine, RedisServer, Workers, wait_until

ROOT = Path(__file__).parents[3]  # the checkout: where `tests.inbox.engines.app` imports from


def runs_of(engine: Engine, key: str) -> tuple[int, int]:
    """(attempts, successful runs) of the event ``key``'s handler so far."""
    return runs_of_key(engine.database, key)


def runs_of_key(database: str, key: str) -> tuple[int, int]:
    return effects(database).get(key, (0, 0))


def state_of(engine: Engine, delivery_id: int) -> DeliveryState | None:
    inbox = engine.dispatcher.inbox
    assert inbox is not None
    delivery = inbox.get(delivery_id)
    return delivery.state if delivery is not None else None


def test_accepted_delivery_is_processed_by_a_worker(engine: Engine) -> None:
    """A delivery accepted and enqueued runs its handler once on a worker, and is done."""
    delivery_id, key = accept(engine.dispatcher, "ok", 1)
    assert engine.queued() == 1  # by the dispatcher's on_accepted hook
    engine.start_worker()
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="done")
    assert runs_of(engine, key) == (1, 1)


def test_failing_handler_is_retried_until_it_succeeds(engine: Engine) -> None:
    """A handler failing twice is run again with backoff, and its third attempt completes it."""
    delivery_id, key = accept(engine.dispatcher, "flaky", 1)
    engine.start_worker()
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="done")
    assert runs_of(engine, key) == (3, 1)


def test_handler_failing_every_attempt_makes_a_dead_letter(engine: Engine) -> None:
    """After the policy's last attempt the delivery is dead, with the error kept, never run."""
    delivery_id, key = accept(engine.dispatcher, "dead", 1)
    engine.start_worker()
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DEAD, what="dead")
    assert runs_of(engine, key) == (RETRIES.max_attempts, 0)
    inbox = engine.dispatcher.inbox
    assert inbox is not None
    delivery = inbox.get(delivery_id)
    assert delivery is not None
    assert delivery.last_error == "RuntimeError: dead handler, attempt 3"


def test_job_delivered_twice_runs_the_handler_once(engine: Engine) -> None:
    """The same delivery enqueued three times, on two concurrent job slots: one handler run."""
    delivery_id, key = accept(engine.dispatcher, "ok", 1)  # enqueued once by the hook
    for _ in range(2):
        engine.enqueue(delivery_id)
    engine.start_worker(concurrency=2)
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="done")
    # The other jobs find it done (or held) and skip it: give them the time to run.
    _, other_key = accept(engine.dispatcher, "ok", 2)
    wait_until(lambda: runs_of(engine, other_key) == (1, 1), what="a later job")
    assert runs_of(engine, key) == (1, 1)


def test_a_replay_is_enqueued_at_once_and_processed_again(engine: Engine) -> None:
    """`Dispatcher.replay` hands the delivery to the engine now, not at the next sweep.

    Processed once in this process (its first job still queued), then replayed: a second job is
    in the queue before any worker runs (with procrastinate, the first one, still queued, serves:
    one job per delivery waits at a time), and a worker runs the handler a second time, on
    purpose.
    """
    delivery_id, key = accept(engine.dispatcher, "ok", 1)
    assert process(engine.dispatcher, delivery_id) is ProcessOutcome.DONE
    assert engine.queued() == 1
    jobs = 2 if engine.name == "celery" else 1

    assert engine.dispatcher.replay(delivery_id)

    assert engine.queued() == jobs  # by the on_accepted hook, at once
    assert not engine.dispatcher.replay(delivery_id)  # pending: nothing to replay, no job
    assert engine.queued() == jobs
    engine.start_worker()
    wait_until(lambda: runs_of(engine, key) == (2, 2), what="the replayed run")
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="done")


@pytest.mark.parametrize("engine", ["procrastinate"], indirect=True)
def test_the_replay_command_opens_procrastinates_app_to_enqueue(engine: Engine) -> None:
    """``inbox replay --app``: the module opens procrastinate's app only at web startup.

    The command runs no startup hook: the enqueue opens the app itself, and the job is queued.
    """
    delivery_id, _ = accept(engine.dispatcher, "ok", 1)
    assert process(engine.dispatcher, delivery_id) is ProcessOutcome.DONE
    cancel_queued_job(engine, delivery_id)  # as if a worker had run it: the replay needs a job
    assert engine.queued() == 0

    replayed = run(
        "inbox",
        "replay",
        str(delivery_id),
        "--app",
        "tests.inbox.engines.app:procrastinate_dispatcher",
        env={DATABASE_ENV: engine.database},
        cwd=ROOT,
    )

    assert (replayed.returncode, replayed.stderr) == (0, "")
    assert (
        f"Replaying delivery {delivery_id}: enqueued by your dispatcher's on_accepted hooks"
        in replayed.stdout
    )
    assert engine.queued() == 1


def cancel_queued_job(engine: Engine, delivery_id: int) -> None:
    """Cancel the delivery's queued job in procrastinate, as an operator can: a job lost."""
    app = procrastinate_engine(engine.database)[0]
    [job] = [
        job
        for job in app.job_manager.list_jobs(task="idwise_events.process", status="todo")
        if job.task_kwargs == {"delivery_id": delivery_id}
    ]
    assert job.id is not None
    assert app.job_manager.cancel_job_by_id(job.id)


@pytest.mark.parametrize("engine", ["procrastinate"], indirect=True)
def test_the_sweep_defers_no_second_job_for_a_delivery_whose_job_still_waits(
    engine: Engine,
) -> None:
    """A backlog: the deliveries wait longer than the sweep's interval, their jobs still queued.

    Each sweep would otherwise add one more job per waiting delivery. A delivery whose job is
    gone (cancelled here) is deferred again.
    """
    sweep = procrastinate_engine(engine.database)[1].sweep
    waiting = [accept(engine.dispatcher, "ok", n)[0] for n in range(3)]
    cancel_queued_job(engine, waiting[0])
    assert engine.queued() == 2
    time.sleep(SWEEP_EVERY.total_seconds() * 1.5)  # all three are due for the sweep

    assert sweep(timestamp=0) == 1  # the one whose job was lost
    assert engine.queued() == 3
    assert sweep(timestamp=0) == 0
    assert engine.queued() == 3
    engine.start_worker()
    inbox = engine.dispatcher.inbox
    assert inbox is not None
    wait_until(lambda: inbox.stats()[DeliveryState.DONE] == 3, what="every delivery done")


@pytest.mark.parametrize("engine", ["procrastinate"], indirect=True)
def test_the_sweep_defers_no_second_job_for_a_retry_whose_job_still_waits(
    engine: Engine,
) -> None:
    """A backlog after a handler raised: the retry's job is due, still queued, and it is the one.

    The job of the retry carries the queueing lock like the others, so the sweep adds none.
    """
    tasks = procrastinate_engine(engine.database)[1]
    delivery_id, key = accept(engine.dispatcher, "flaky", 1)
    cancel_queued_job(engine, delivery_id)  # as if a worker had taken it: it runs here
    assert tasks.process(delivery_id=delivery_id) == ProcessOutcome.RETRIED.value
    assert engine.queued() == 1  # the retry's, due within the policy's first delay
    time.sleep(SWEEP_EVERY.total_seconds() * 1.5)  # waiting for longer than the sweep's interval

    assert tasks.sweep(timestamp=0) == 0
    assert engine.queued() == 1
    engine.start_worker()
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="done")
    assert runs_of(engine, key) == (3, 1)


@pytest.mark.parametrize("engine", ["procrastinate"], indirect=True)
def test_a_job_that_finds_its_retry_not_yet_due_defers_the_retrys_job(engine: Engine) -> None:
    """A job run before its delivery's retry is due defers one for the retry's time.

    The retry's own job could not be deferred when another job of the delivery held the lock
    (the sweep's, after the lease lapsed mid-handler); without this, the retry waited for a sweep.
    """
    tasks = procrastinate_engine(engine.database)[1]
    delivery_id, _ = accept(engine.dispatcher, "flaky", 1)  # its job waits: the "sweep's" one
    assert tasks.process(delivery_id=delivery_id) == ProcessOutcome.RETRIED.value
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    with psycopg.connect(libpq_url(engine.database), autocommit=True) as conn:
        conn.execute(  # the retry's time, far enough for the job below to find it not due
            "UPDATE idwise_events_inbox SET next_attempt_at = %s WHERE id = %s",
            (later, delivery_id),
        )
    cancel_queued_job(engine, delivery_id)  # as if a worker had taken the waiting job: it runs

    assert tasks.process(delivery_id=delivery_id) == ProcessOutcome.SKIPPED.value
    app = procrastinate_engine(engine.database)[0]
    [job] = app.job_manager.list_jobs(task="idwise_events.process", status="todo")
    assert job.task_kwargs == {"delivery_id": delivery_id}
    assert job.scheduled_at == later


def test_a_web_side_that_did_not_open_procrastinate_is_told_how_to(
    procrastinate_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The delivery is stored and answered 200; the log says what to do, not a bare AppNotOpen."""
    _, _, dispatcher = procrastinate_engine(procrastinate_database)  # never opened

    delivery_id, _key = accept(dispatcher, "ok", 1)

    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert warning.getMessage().startswith(
        f"inbox delivery {delivery_id} is stored, but its procrastinate job could not be"
        " deferred (AppNotOpen: procrastinate's app is not open in this process"
    )
    assert "post_fork" in warning.getMessage()
    assert warning.exc_info is None  # one line per delivery, not a traceback each


def test_worker_killed_mid_handler_leaves_the_delivery_to_be_processed_after_its_lease(
    engine: Engine, workers: Workers
) -> None:
    """SIGKILL while the handler runs: another worker processes the delivery after the lease."""
    delivery_id, key = accept(engine.dispatcher, "slow", 1)
    first = engine.start_worker()
    wait_until(lambda: runs_of(engine, key) == (1, 0), what="the handler to start")
    workers.kill(first)
    assert state_of(engine, delivery_id) is DeliveryState.PROCESSING
    engine.start_worker()
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="done")
    assert runs_of(engine, key) == (2, 1)


# procrastinate's queue is the database the delivery is committed to: no broker to lose.
@pytest.mark.parametrize("engine", ["celery"], indirect=True)
def test_delivery_whose_enqueue_failed_is_processed_by_the_sweep(
    engine: Engine, redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Broker down after the commit: 200, the failed enqueue logged; the sweep processes it."""
    engine.start_worker()
    redis.stop()
    delivery_id, key = accept(engine.dispatcher, "ok", 1)
    [failed] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert failed.exc_info is None  # one line per delivery during an outage, not a traceback
    assert failed.getMessage().startswith(
        f"inbox delivery {delivery_id} is stored, but its Celery task could not"
        " be sent (OperationalError: "
    )
    assert failed.getMessage().endswith(
        "; the sweep sends it once the broker is back (it runs every 1 s)"
    )
    assert state_of(engine, delivery_id) is DeliveryState.PENDING
    redis.start()
    wait_until(lambda: state_of(engine, delivery_id) is DeliveryState.DONE, what="the sweep")
    assert runs_of(engine, key) == (1, 1)


EVENTS = 2_000


def test_four_worker_processes_run_every_handler_exactly_once(engine: Engine) -> None:
    """2,000 deliveries on 4 worker processes: each event's handler ran once, none twice.

    Counted by the handler itself in PostgreSQL (one row per event key). Procrastinate runs 4
    worker processes; Celery runs one worker with 4 pool processes (and beat).
    """
    if engine.name == "celery":
        engine.start_worker(concurrency=4)
    else:
        for _ in range(4):
            engine.start_worker(concurrency=1)
    accepted = [accept(engine.dispatcher, "ok", n) for n in range(EVENTS)]
    inbox = engine.dispatcher.inbox
    assert inbox is not None
    wait_until(
        lambda: inbox.stats()[DeliveryState.DONE] == EVENTS, timeout=360, what="every delivery"
    )
    assert effects(engine.database) == {key: (1, 1) for _, key in accepted}


def test_celery_retries_the_task_while_the_inbox_is_down(
    redis: RedisServer, workers: Workers
) -> None:
    """PostgreSQL stopped under a worker: the task is retried by Celery, and done once it is back.

    On a PostgreSQL server of its own, stopped and started again on the same port.
    """
    require_postgres_programs()
    with TemporaryPostgres() as server:
        create_effects_table(server.url)
        dispatcher = celery_engine(server.url, redis.url)[2]
        delivery_id, key = accept(dispatcher, "ok", 1)  # enqueued before a worker runs
        server.stop()
        workers.start("celery", server.url, broker_url=redis.url)
        wait_until(lambda: "Retry in 1s: StoreError" in workers.logs(), what="a Celery retry")
        server.start()
        wait_until(lambda: runs_of_key(server.url, key) == (1, 1), what="the handler")
        assert dispatcher.inbox is not None
        delivery = dispatcher.inbox.get(delivery_id)
        assert delivery is not None
        assert delivery.state is DeliveryState.DONE


def test_an_async_web_side_enqueues_too(engine: Engine) -> None:
    """From ``handle_async`` the engine's hook runs in a worker thread: the job is enqueued."""
    event = make_event(FinishedJourney, journey_id=journey_id("ok", 1))
    request = build_request(event, engine.dispatcher.verifier)
    response = asyncio.run(engine.dispatcher.handle_async(request))
    assert response.status == 200
    assert engine.queued() == 1
    engine.start_worker()
    wait_until(lambda: runs_of(engine, event.idempotency_key) == (1, 1), what="the handler")


class _DownWhenTaken(MemoryInbox):
    """An inbox down at every take; before the first fails, the sweep defers another job."""

    def __init__(self) -> None:
        super().__init__()
        self.takes = 0
        self.meanwhile: Callable[[int], object] = lambda delivery_id: None

    def take(self, delivery_id: int, *, lease: timedelta) -> Taken | None:
        self.takes += 1
        if self.takes == 1:
            self.meanwhile(delivery_id)
        raise StoreError("memory inbox unavailable (as if its database were down)")


def test_a_procrastinate_job_the_inbox_fails_leaves_no_job_stuck_behind_its_queueing_lock(
    procrastinate_database: str,
) -> None:
    """The inbox down while a job runs, and a second job queued for the delivery meanwhile.

    Retried by procrastinate, the first job would go back to the queue with the queueing lock
    the second one holds: the database refuses it, and the first job stays ``doing`` for good.
    Each failed job is left failed instead, and one new job is deferred for a later try.
    """
    inbox = _DownWhenTaken()
    dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=inbox)
    connector = procrastinate.PsycopgConnector(conninfo=libpq_url(procrastinate_database))
    app = procrastinate.App(connector=connector)
    tasks = install_procrastinate(app, dispatcher, queue="down")

    def sweep_meanwhile(delivery_id: int) -> None:
        lock = f"idwise_events.process:down:{delivery_id}"
        tasks.process.configure(queueing_lock=lock).defer(delivery_id=delivery_id)

    inbox.meanwhile = sweep_meanwhile
    with app.open():
        request = build_request(make_event(FinishedJourney), dispatcher.verifier)
        assert dispatcher.handle(request).status == 200  # its on_accepted hook defers the job
        [delivery] = inbox.deliveries()
        delivery_id = delivery.id
    app.run_worker(queues=["down"], wait=False, install_signal_handlers=False, listen_notify=False)
    with app.open():
        jobs = app.job_manager.list_jobs(queue="down", task="idwise_events.process")

    assert inbox.takes == 2
    assert sorted(str(job.status) for job in jobs) == ["failed", "failed", "todo"]
    [later] = [job for job in jobs if job.status == "todo"]
    assert later.task_kwargs == {"delivery_id": delivery_id, "store_retries": 1}
