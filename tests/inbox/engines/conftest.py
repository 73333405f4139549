"""The real engines, started by the tests: a Redis server (Celery's broker), worker processes.

Redis is Debian's ``redis-server`` on a free 127.0.0.1 port in a temporary directory; without it
the tests are skipped, unless ``IDWISE_EVENTS_REQUIRE_REDIS=1`` (CI) makes that a failure. Each
test gets a database of its own on the session's PostgreSQL (tests/conftest.py), holding the
inbox, the handler's counts and procrastinate's tables. Workers are subprocesses, stopped (and
killed if they do not stop) when the test ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis as redis_client

from idwise_events import Dispatcher
from idwise_events.testing.postgres import TemporaryPostgres

from ...conftest import postgres_url
from .app import (
    BROKER_ENV,
    DATABASE_ENV,
    celery_engine,
    close_engines,
    create_effects_table,
    libpq_url,
    procrastinate_engine,
)

REQUIRE_REDIS = os.environ.get("IDWISE_EVENTS_REQUIRE_REDIS") == "1"
ROOT = Path(__file__).resolve().parents[3]
"""The repository: the worker processes import ``tests.inbox.engines.app`` from there."""
WAIT = 90.0
"""The longest a test waits for the workers (seconds): a bound, not a timing assertion."""


def wait_until(predicate: Callable[[], bool], *, timeout: float = WAIT, what: str) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` on loopback, without persistence; `stop` and `start` keep its port."""

    def __init__(self, program: str, directory: Path) -> None:
        self.program = program
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        arguments = [
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            [self.program, *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=30, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Debian's redis-server for the session (skip without it; fail if CI requires it)."""
    program = shutil.which("redis-server")
    if program is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if REQUIRE_REDIS:
            pytest.fail(f"{reason}, and IDWISE_EVENTS_REQUIRE_REDIS=1 requires it")
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="idwise-events-redis-") as directory:
        server = RedisServer(program, Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's Redis, running and empty."""
    if redis_server.process is None:
        redis_server.start()
    redis_server.flush()
    yield redis_server
    if redis_server.process is None:
        redis_server.start()


@pytest.fixture(autouse=True)
def _close_engines() -> Iterator[None]:
    """Close the connections of the engines' inboxes the test process built."""
    yield
    close_engines()


@pytest.fixture
def database(postgres: TemporaryPostgres | str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL (SQLAlchemy URL), dropped after the test."""
    server = postgres_url(postgres)
    name = f"engines_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + f"/{name}"
    create_effects_table(url)
    yield url
    close_engines()
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def procrastinate_database(database: str) -> str:
    """The test's database with procrastinate's schema applied."""
    app = procrastinate_engine(database)[0]
    with app.open():
        app.schema_manager.apply_schema()
    return database


class Workers:
    """Starts worker subprocesses for a test, and stops every one of them after it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(
        self, engine: str, database_url: str, *, broker_url: str = "", concurrency: int = 2
    ) -> subprocess.Popen[bytes]:
        """A worker of ``engine`` (``"celery"`` or ``"procrastinate"``).

        Celery's runs ``concurrency`` processes (its prefork pool) and beat; procrastinate's
        runs ``concurrency`` jobs at a time, and its periodic tasks.
        """
        if engine == "celery":
            # --beat in this one worker: the sweep's scheduler (one per deployment).
            arguments = [
                "-m", "celery", "-A", "tests.inbox.engines.app:celery_app", "worker", "--beat",
                "--schedule", str(self.directory / f"beat-{len(self.processes)}"),
                "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
        else:
            arguments = [
                "-m", "procrastinate", "--app", "tests.inbox.engines.app.procrastinate_app",
                "worker", "--concurrency", str(concurrency), "--queues", "idwise_events",
            ]  # fmt: skip
        environment = {DATABASE_ENV: database_url, BROKER_ENV: broker_url}
        return self.spawn(arguments, environment=environment)

    def spawn(
        self, arguments: list[str], *, environment: dict[str, str], cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        """Run ``python *arguments`` in ``cwd`` with ``environment`` added, logged to a file."""
        log = (self.directory / f"worker-{len(self.processes)}.log").open("wb")
        # Not pytest-django's test project: Celery would set Django up in its workers.
        inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        process = subprocess.Popen(
            [sys.executable, *arguments],
            cwd=cwd,
            env={**inherited, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches its children too
        )
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and every process it started (Celery's pool)."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.directory.glob("*.log"))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Worker processes for the test; their logs are shown when it fails."""
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
        print(started.logs()[-20_000:])  # pytest shows it if the test failed


@dataclass
class Engine:
    """One engine set up for a test: the test process's side of it, and how to start workers."""

    name: str
    database: str
    """The test database's SQLAlchemy URL."""
    dispatcher: Dispatcher
    """The test process's dispatcher (the HTTP side): its inbox is the workers' one."""
    enqueue: Callable[[int], object]
    """Enqueue the job of a delivery, as the dispatcher's on_accepted hook does."""
    start_worker: Callable[..., subprocess.Popen[bytes]]
    """Start a worker process (``concurrency=`` jobs at a time)."""
    queued: Callable[[], int]
    """How many process jobs wait in the engine's queue."""


@pytest.fixture(params=["celery", "procrastinate"])
def engine(request: pytest.FixtureRequest, database: str, workers: Workers) -> Iterator[Engine]:
    """Each engine in turn, on the test's database (Celery with the session's Redis)."""
    if request.param == "celery":
        broker: RedisServer = request.getfixturevalue("redis")
        _, celery_tasks, dispatcher = celery_engine(database, broker.url)

        def start_celery(concurrency: int = 2) -> subprocess.Popen[bytes]:
            return workers.start("celery", database, broker_url=broker.url, concurrency=concurrency)

        def in_redis() -> int:
            with redis_client.Redis.from_url(broker.url) as client:
                return int(client.llen("celery"))  # Celery's default queue: a Redis list

        enqueue = celery_tasks.process.delay
        yield Engine("celery", database, dispatcher, enqueue, start_celery, in_redis)
        return
    app, tasks, dispatcher = procrastinate_engine(request.getfixturevalue("procrastinate_database"))

    def start_procrastinate(concurrency: int = 2) -> subprocess.Popen[bytes]:
        return workers.start("procrastinate", database, concurrency=concurrency)

    def defer(delivery_id: int) -> object:
        return tasks.process.defer(delivery_id=delivery_id)

    def in_postgres() -> int:
        with psycopg.connect(libpq_url(database), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'idwise_events.process' AND status = 'todo'"
            ).fetchone()
        return row[0] if row else 0

    with app.open():
        yield Engine("procrastinate", database, dispatcher, defer, start_procrastinate, in_postgres)
