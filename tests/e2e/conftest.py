"""Real servers for the end-to-end tests: uvicorn and gunicorn as subprocesses on 127.0.0.1.

The `server` fixture starts `tests.e2e.app` (ASGI under uvicorn, WSGI under gunicorn) with
several worker processes, on a SqlStore in a SQLite file or in PostgreSQL, once per combination
for the session; every start and stop waits a bounded time, and no process outlives the fixture.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from idwise_events import BearerAuth
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import auth_headers

# The session's PostgreSQL server (it fails instead of skipping when CI requires PostgreSQL).
from tests.conftest import postgres_url

ROOT = Path(__file__).parent.parent.parent
PATH = "/webhooks/idwise"
TOKEN = "e2e-token"  # noqa: S105 -- a throwaway credential for servers on loopback
HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(TOKEN))}
MAX_BODY_BYTES = 4096
HANDLER_DELAY = 0.3  # long enough that concurrent deliveries overlap while one is processed
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# The same app under both servers, each with several worker processes, so that deliveries are
# really handled at the same time by different processes sharing one store.
COMMANDS = {
    "uvicorn": ["-m", "uvicorn", "tests.e2e.app:asgi", "--workers", "2", "--no-access-log"],
    "gunicorn": ["-m", "gunicorn", "tests.e2e.app:wsgi", "--workers", "4"],
}
STORES = ["sqlite", "postgresql"]


@dataclass
class Server:
    """A running server: where to send deliveries, and what its handler did."""

    url: str
    host: str
    port: int
    runs_file: Path
    fail_marker: Path

    def runs(self, key: str | None = None) -> int:
        """How many times the handler ran (for the event with idempotency key ``key``)."""
        lines = self.runs_file.read_text().splitlines() if self.runs_file.exists() else []
        return len(lines) if key is None else lines.count(key)

    def fail_next_run(self) -> None:
        """Make the handler's next run (in whichever worker) raise."""
        self.fail_marker.touch()


@pytest.fixture(
    scope="session",
    params=[(kind, store) for store in STORES for kind in COMMANDS],
    ids=lambda param: "-".join(param),
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The e2e app under one server kind on one store, for the whole session."""
    kind, store = request.param
    folder = tmp_path_factory.mktemp(f"e2e-{kind}-{store}")
    if store == "postgresql":
        store_url = postgres_url(request.getfixturevalue("postgres"))
    else:
        store_url = f"sqlite:///{folder / 'events.db'}"
    with running(kind, store_url, folder) as started:
        yield started


@contextmanager
def running(kind: str, store_url: str, folder: Path) -> Iterator[Server]:
    """Start the app under ``kind`` on ``store_url``; stop it (and all its workers) on exit."""
    table = f"e2e_{uuid.uuid4().hex[:12]}"
    # Created up front: workers starting together would otherwise race to create it.
    store = SqlStore(store_url, table_name=table)
    store.create_table()
    store.close()

    port = free_port()
    server = Server(
        url=f"http://127.0.0.1:{port}{PATH}",
        host="127.0.0.1",
        port=port,
        runs_file=folder / "runs.txt",
        fail_marker=folder / "fail-next-run",
    )
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    if kind == "gunicorn":
        bind = ["--bind", f"127.0.0.1:{port}"]
    env = {
        **os.environ,
        "IDWISE_E2E_STORE_URL": store_url,
        "IDWISE_E2E_TABLE": table,
        "IDWISE_E2E_TOKEN": TOKEN,
        "IDWISE_E2E_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "IDWISE_E2E_RUNS_FILE": str(server.runs_file),
        "IDWISE_E2E_FAIL_MARKER": str(server.fail_marker),
        "IDWISE_E2E_HANDLER_DELAY": str(HANDLER_DELAY),
    }
    log_path = folder / f"{kind}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *COMMANDS[kind], *bind, "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that its workers can be stopped too
        )
    try:
        wait_until_ready(process, server, log_path)
        yield server
    finally:
        stop(process)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(process: subprocess.Popen[bytes], server: Server, log_path: Path) -> None:
    """Wait (at most START_TIMEOUT) until the server answers; fail with its log if it does not."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(server.url, timeout=2).status_code == 405:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer within {START_TIMEOUT} s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server gracefully (bounded), then make sure nothing of its process group is left."""
    try:
        process.terminate()
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # Its session's group: the master and any worker that outlived it.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
