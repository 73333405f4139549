"""What the engines' worker processes run: a dispatcher whose handler counts its runs in PostgreSQL.

The test process and each worker process build the same dispatcher (`make_dispatcher`) on the
test database. Its handler records every attempt and every successful run of an event in the
table `EFFECTS` (one row per idempotency key, a unique constraint on it), so a test reads there
how often each event's handlers really ran, whatever the engine delivered. What the handler does
is chosen by the event's ``journeyId`` prefix (`journey_id`):

- ``ok-``: succeeds;
- ``flaky-``: raises on its first two attempts, then succeeds;
- ``dead-``: always raises;
- ``slow-``: on its first attempt, tells it started and sleeps far longer than any test waits
  (to be killed there); succeeds on the next.

The test process builds an engine with `celery_engine` or `procrastinate_engine`; a worker
process imports ``celery_app`` (``celery -A tests.inbox.engines.app:celery_app worker``) or
``procrastinate_app``, built the same way from the URLs in the environment (`DATABASE_ENV`,
`BROKER_ENV`).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from typing import Any

import celery
import procrastinate
import psycopg

from idwise_events import BearerAuth, Dispatcher, Event, FinishedJourney, RetryPolicy
from idwise_events.inbox.celery import CeleryTasks
from idwise_events.inbox.celery import install as install_celery
from idwise_events.inbox.procrastinate import ProcrastinateTasks
from idwise_events.inbox.procrastinate import install as install_procrastinate
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import build_request, make_event

DATABASE_ENV = "IDWISE_ENGINES_DATABASE_URL"
"""The SQLAlchemy URL of the test database (psycopg driver), for the worker processes."""
BROKER_ENV = "IDWISE_ENGINES_BROKER_URL"
"""Celery's broker URL, for its worker processes."""

EFFECTS = "engine_effects"
LEASE = timedelta(seconds=3)
"""Short, so that a killed worker's delivery is taken again within a test."""
RETRIES = RetryPolicy(max_attempts=3, first_delay=timedelta(milliseconds=200))
SWEEP_EVERY = timedelta(seconds=1)
SLEEP_WHEN_SLOW = 600.0

_local = threading.local()


def journey_id(behaviour: str, n: int | str) -> str:
    """The ``journeyId`` that makes the handler behave as ``behaviour`` (see the module)."""
    return f"{behaviour}-{n}"


def libpq_url(database_url: str) -> str:
    """The psycopg (libpq) form of a SQLAlchemy URL."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_effects_table(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {EFFECTS} ("
            " key text PRIMARY KEY, attempts integer NOT NULL, runs integer NOT NULL)"
        )


def effects(database_url: str) -> dict[str, tuple[int, int]]:
    """Each event key's (attempts, successful runs) so far."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        rows = conn.execute(f"SELECT key, attempts, runs FROM {EFFECTS}").fetchall()  # noqa: S608
    return {key: (attempts, runs) for key, attempts, runs in rows}


def _connection(database_url: str) -> psycopg.Connection[Any]:
    """This thread's connection to the test database (engines run handlers in threads).

    One per database: the test process runs handlers too, on each test's database in turn.
    """
    conns: dict[str, psycopg.Connection[Any]] = _local.__dict__.setdefault("conns", {})
    conn = conns.get(database_url)
    if conn is None or conn.closed:
        conn = conns[database_url] = psycopg.connect(libpq_url(database_url), autocommit=True)
    return conn


def make_dispatcher(database_url: str) -> Dispatcher:
    """The dispatcher on the test database's inbox, with the counting handler."""
    dispatcher = Dispatcher(
        verifier=BearerAuth("engines-test-token"), inbox=SqlInbox(database_url), lease=LEASE
    )

    @dispatcher.on_any
    def record(event: Event) -> None:
        conn = _connection(database_url)
        row = conn.execute(
            f"INSERT INTO {EFFECTS} (key, attempts, runs) VALUES (%s, 1, 0)"  # noqa: S608
            f" ON CONFLICT (key) DO UPDATE SET attempts = {EFFECTS}.attempts + 1"
            " RETURNING attempts",
            (event.idempotency_key,),
        ).fetchone()
        attempt = row[0] if row else 0
        behaviour = str(getattr(event.body, "journey_id", "ok")).partition("-")[0]
        if behaviour == "dead" or (behaviour == "flaky" and attempt <= 2):
            raise RuntimeError(f"{behaviour} handler, attempt {attempt}")
        if behaviour == "slow" and attempt == 1:
            time.sleep(SLEEP_WHEN_SLOW)
        conn.execute(
            f"UPDATE {EFFECTS} SET runs = runs + 1 WHERE key = %s",  # noqa: S608
            (event.idempotency_key,),
        )

    return dispatcher


_celery_engines: dict[tuple[str, str], tuple[celery.Celery, CeleryTasks, Dispatcher]] = {}
_procrastinate_engines: dict[str, tuple[procrastinate.App, ProcrastinateTasks, Dispatcher]] = {}


def celery_engine(
    database_url: str, broker_url: str
) -> tuple[celery.Celery, CeleryTasks, Dispatcher]:
    """A Celery app on ``broker_url`` for the test database's inbox: (app, tasks, dispatcher)."""
    if (database_url, broker_url) in _celery_engines:
        return _celery_engines[database_url, broker_url]
    app = celery.Celery("idwise_engines_test", broker=broker_url, set_as_current=False)
    app.conf.update(
        worker_prefetch_multiplier=1,  # a worker process holds one job at a time
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    dispatcher = make_dispatcher(database_url)
    tasks = install_celery(app, dispatcher, retries=RETRIES, sweep_every=SWEEP_EVERY)
    _celery_engines[database_url, broker_url] = app, tasks, dispatcher
    return app, tasks, dispatcher


def procrastinate_engine(
    database_url: str,
) -> tuple[procrastinate.App, ProcrastinateTasks, Dispatcher]:
    """A procrastinate app on the test database, for its inbox: (app, tasks, dispatcher)."""
    if database_url in _procrastinate_engines:
        return _procrastinate_engines[database_url]
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=libpq_url(database_url))
    )
    dispatcher = make_dispatcher(database_url)
    tasks = install_procrastinate(app, dispatcher, retries=RETRIES, sweep_every=SWEEP_EVERY)
    _procrastinate_engines[database_url] = app, tasks, dispatcher
    return app, tasks, dispatcher


def __getattr__(name: str) -> object:
    """The engines' apps, built on first use from the environment (only worker processes ask)."""
    if name == "celery_app":
        return celery_engine(os.environ[DATABASE_ENV], os.environ[BROKER_ENV])[0]
    if name == "procrastinate_app":
        return procrastinate_engine(os.environ[DATABASE_ENV])[0]
    if name == "procrastinate_dispatcher":  # for `idwise-events inbox replay --app`
        return procrastinate_engine(os.environ[DATABASE_ENV])[2]
    raise AttributeError(name)


def accept(dispatcher: Dispatcher, behaviour: str, n: int | str) -> tuple[int, str]:
    """Deliver a new event to the dispatcher, as IDWise does: (its inbox id, its key).

    The dispatcher answers 200 once the delivery is stored, and its ``on_accepted`` hook (the
    engine's) enqueues the job.
    """
    event = make_event(FinishedJourney, journey_id=journey_id(behaviour, n))
    response = dispatcher.handle(build_request(event, dispatcher.verifier))
    assert response.status == 200, response
    inbox = dispatcher.inbox
    assert inbox is not None
    [newest] = inbox.deliveries(limit=1)
    assert newest.key == event.idempotency_key
    return newest.id, event.idempotency_key


def close_engines() -> None:
    """Close the inboxes of the engines built so far, and forget them (after each test)."""
    built = [*_celery_engines.values(), *_procrastinate_engines.values()]
    for *_, dispatcher in built:
        inbox = dispatcher.inbox
        if isinstance(inbox, SqlInbox):
            inbox.close()
    _celery_engines.clear()
    _procrastinate_engines.clear()
