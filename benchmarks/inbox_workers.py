"""Inbox worker throughput: events/s with a no-op handler on PostgreSQL, per engine, 1/2/4 workers.

    python benchmarks/inbox_workers.py            # 2,000 events per row
    python benchmarks/inbox_workers.py --events 200

Starts a throwaway PostgreSQL (fsync on) and, for Celery, a ``redis-server`` as its broker (the
Celery rows are left out without one). For each engine and each worker count it accepts the
events into a fresh `SqlInbox` table, starts that many worker processes (each running one job at
a time), enqueues every delivery's job, and times until the inbox reports them all done; events/s
is the event count over that time, and "scaling" is the ratio to the same engine with 1 worker.
One run, on a shared machine: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import celery
import procrastinate

from idwise_events import BearerAuth, DeliveryState, Dispatcher, Event, FinishedJourney
from idwise_events.inbox.celery import install as install_celery
from idwise_events.inbox.procrastinate import install as install_procrastinate
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import make_event
from idwise_events.testing.postgres import TemporaryPostgres

HERE = Path(__file__).resolve().parent
DATABASE_ENV = "IDWISE_BENCH_DATABASE_URL"
TABLE_ENV = "IDWISE_BENCH_INBOX_TABLE"
BROKER_ENV = "IDWISE_BENCH_BROKER_URL"
WORKER_COUNTS = (1, 2, 4)


def make_dispatcher(database_url: str, table: str) -> Dispatcher:
    """A dispatcher on the benchmark's inbox table, with one handler that does nothing."""
    dispatcher = Dispatcher(
        verifier=BearerAuth("benchmark-token"), inbox=SqlInbox(database_url, table_name=table)
    )

    @dispatcher.on_any
    def nothing(event: Event) -> None:
        return None

    return dispatcher


def celery_side(database_url: str, table: str, broker_url: str) -> tuple[celery.Celery, Any]:
    app = celery.Celery("idwise_bench", broker=broker_url, set_as_current=False)
    app.conf.update(worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
    tasks = install_celery(app, make_dispatcher(database_url, table))
    return app, tasks.process.delay


def procrastinate_side(database_url: str, table: str) -> tuple[procrastinate.App, Any]:
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq))
    tasks = install_procrastinate(app, make_dispatcher(database_url, table))
    return app, lambda delivery_id: tasks.process.defer(delivery_id=delivery_id)


def __getattr__(name: str) -> object:
    """The worker processes' apps, built from the environment."""
    database_url, table = os.environ[DATABASE_ENV], os.environ[TABLE_ENV]
    if name == "celery_app":
        return celery_side(database_url, table, os.environ[BROKER_ENV])[0]
    if name == "procrastinate_app":
        return procrastinate_side(database_url, table)[0]
    raise AttributeError(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(resources: ExitStack) -> str | None:
    """A redis-server on a free loopback port, stopped on exit; None if it is not installed."""
    program = shutil.which("redis-server")
    if program is None:
        return None
    port = free_port()
    directory = resources.enter_context(tempfile.TemporaryDirectory())
    server = subprocess.Popen(  # noqa: S603 -- a fixed command line
        [program, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    resources.callback(server.wait, 30)
    resources.callback(server.terminate)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def worker_command(engine: str, number: int) -> list[str]:
    if engine == "celery":
        return [
            "-m", "celery", "-A", "inbox_workers:celery_app", "worker", "-n", f"w{number}@%h",
            "--concurrency", "1", "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
    return [
        "-m", "procrastinate", "--app", "inbox_workers.procrastinate_app", "worker",
        "--concurrency", "1", "--queues", "idwise_events",
    ]  # fmt: skip


def accept_events(dispatcher: Dispatcher, count: int) -> list[int]:
    inbox = dispatcher.inbox
    assert inbox is not None
    ids = []
    for n in range(count):
        event = make_event(FinishedJourney, journey_id=f"bench-{n}")
        body = event.model_dump_json(by_alias=True).encode()
        accepted = inbox.accept(
            key=event.idempotency_key,
            event_type=event.event,
            event_id=event.event_id,
            fingerprint=hashlib.sha256(body).hexdigest(),
            body=body,
        )
        ids.append(accepted.id)
    return ids


def run_row(engine: str, workers: int, events: int, database_url: str, broker: str) -> float:
    """Events/s of ``workers`` worker processes of ``engine`` on ``events`` fresh deliveries."""
    table = f"bench_{engine}_{workers}"
    environment = {**os.environ, DATABASE_ENV: database_url, TABLE_ENV: table, BROKER_ENV: broker}
    with ExitStack() as resources:
        if engine == "celery":
            enqueue = celery_side(database_url, table, broker)[1]
        else:
            app, enqueue = procrastinate_side(database_url, table)
            resources.enter_context(app.open())
        return _timed(engine, workers, events, table, database_url, environment, enqueue)


def _timed(
    engine: str,
    workers: int,
    events: int,
    table: str,
    database_url: str,
    environment: dict[str, str],
    enqueue: Any,
) -> float:
    dispatcher = make_dispatcher(database_url, table)
    inbox = dispatcher.inbox
    assert inbox is not None
    ids = accept_events(dispatcher, events)
    processes = [
        subprocess.Popen(  # noqa: S603 -- a fixed command line
            [sys.executable, *worker_command(engine, n)],
            cwd=HERE,
            env=environment,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    try:
        time.sleep(5)  # the workers start before the clock does
        started = time.perf_counter()
        for delivery_id in ids:
            enqueue(delivery_id)
        deadline = time.monotonic() + 600
        while inbox.stats()[DeliveryState.DONE] < events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{engine}, {workers} workers: not done after 10 minutes")
            time.sleep(0.05)
        return events / (time.perf_counter() - started)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000, help="events per row")
    args = parser.parse_args(argv)
    with ExitStack() as resources:
        server = resources.enter_context(TemporaryPostgres(fsync=True))
        broker = start_redis(resources)
        app = procrastinate_side(server.url, "unused")[0]
        with app.open():
            app.schema_manager.apply_schema()
        engines = ["celery", "procrastinate"] if broker else ["procrastinate"]
        if broker is None:
            print("redis-server is not installed: no Celery rows")
        print(f"{args.events} events per row, no-op handler, PostgreSQL with fsync on")
        print(f"{'engine':14} {'workers':>7} {'events/s':>9} {'scaling':>8}", flush=True)
        for engine in engines:
            single = 0.0
            for workers in WORKER_COUNTS:
                rate = run_row(engine, workers, args.events, server.url, broker or "")
                single = single or rate
                print(f"{engine:14} {workers:7} {rate:9.0f} {rate / single:7.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    # The apps are built in the module the workers import by name, not in __main__.
    import inbox_workers

    sys.exit(inbox_workers.main())
