"""The inbox's engines for the stress scripts: a Redis server (Celery's broker), worker processes.

Every process runs in its own process group and is stopped (then killed) on exit, like the
servers in `stress.servers`; starts wait a bounded time. The workers import ``stress.app``,
configured by the same environment variables as the servers (``STRESS_INBOX``...).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .servers import ROOT, free_port, stop

ENGINES = ("celery", "procrastinate")
START_TIMEOUT = 60.0
# What each engine's worker logs once it takes jobs.
_READY = {"celery": "ready.", "procrastinate": "Starting worker"}


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's ``redis-server`` on a free 127.0.0.1 port, without persistence: its URL."""
    program = shutil.which("redis-server")
    if program is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    arguments = [
        "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--save", "", "--appendonly", "no",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 -- our own fixed arguments
        [program, *arguments],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _pong(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {port}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def apply_procrastinate_schema(database_url: str) -> None:
    """Create procrastinate's tables in the database of ``database_url`` (SQLAlchemy's form)."""
    import procrastinate

    libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq))
    with app.open():
        app.schema_manager.apply_schema()


@contextmanager
def engine_workers(
    engine: str, *, processes: int, folder: Path, env: Mapping[str, str]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``processes`` worker processes of ``engine`` on ``stress.app``, ready; stopped on exit.

    Celery: one worker with ``processes`` prefork pool processes (one job each) and beat, which
    runs the sweep. procrastinate: ``processes`` workers, one job at a time each; every worker
    schedules the sweep and procrastinate defers it once per tick.
    """
    if engine == "celery":
        celery = [
            "-m", "celery", "-A", "stress.app:celery_app", "worker", "--beat",
            "--schedule", str(folder / "celerybeat-schedule"),
            "--concurrency", str(processes), "--pool", "prefork", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        commands = [celery]
    elif engine == "procrastinate":
        command = [
            "-m", "procrastinate", "--verbose", "--app", "stress.app.procrastinate_app",
            "worker", "--concurrency", "1", "--queues", "idwise_events",
        ]  # fmt: skip
        commands = [command] * processes
    else:
        raise ValueError(f"unknown engine {engine!r}")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    with ExitStack() as stack:
        for number, command in enumerate(commands):
            log_path = folder / f"{engine}-worker-{number}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 -- our own fixed arguments
                    [sys.executable, *command],
                    cwd=ROOT,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: its pool is stopped with it
                )
            stack.callback(stop, process)
            started.append((process, log_path))
        for process, log_path in started:
            _wait_ready(engine, process, log_path)
        yield [process for process, _ in started]


def _wait_ready(engine: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until the worker logs that it is ready, at most START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while _READY[engine] not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{engine} worker not ready:\n{log_path.read_text()[-5000:]}")
        time.sleep(0.2)
