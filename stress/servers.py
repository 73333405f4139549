"""Real servers for the stress scripts: `stress.app` under uvicorn or gunicorn on 127.0.0.1.

Every start and stop waits a bounded time, and no process outlives `serving` (each server gets
its own process group, killed at the end). `rss_bytes` sums the resident memory of the server's
whole process tree, the figure the fuzzing script samples before and after.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from idwise_events.stores.sql import SqlStore

ROOT = Path(__file__).parent.parent
PATH = "/webhooks/idwise"
KINDS = ("uvicorn", "gunicorn")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


@dataclass
class Server:
    """A running server: where it listens and its master process."""

    kind: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    table: str

    @property
    def url(self) -> str:
        """The webhook endpoint."""
        return f"http://{self.host}:{self.port}{PATH}"

    def rss_bytes(self) -> int:
        """Resident memory of the master and all its descendants, in bytes."""
        return sum(_rss(pid) for pid in _tree(self.process.pid))

    def worker_pids(self) -> list[int]:
        """The server's processes other than the master."""
        return [pid for pid in _tree(self.process.pid) if pid != self.process.pid]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(
    kind: str,
    *,
    store_url: str,
    folder: Path,
    workers: int = 4,
    secret: str,
    env: Mapping[str, str] | None = None,
    table: str | None = None,
) -> Iterator[Server]:
    """`stress.app` under ``kind`` with ``workers`` processes on ``store_url``; stopped on exit.

    The store's table is a new one, created here, unless ``table`` names one made already (an
    inbox's, with ``STRESS_INBOX`` in ``env``).
    """
    if table is None:
        table = f"stress_{uuid.uuid4().hex[:12]}"
        # Created up front: workers starting together would otherwise race to create it.
        store = SqlStore(store_url, table_name=table)
        store.create_table()
        store.close()
    port = free_port()
    if kind == "uvicorn":
        command = [
            "-m", "uvicorn", "stress.app:asgi", "--workers", str(workers), "--no-access-log",
            "--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip
    elif kind == "gunicorn":
        command = [
            "-m", "gunicorn", "stress.app:wsgi", "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5",
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown server {kind!r}")
    log_path = folder / f"{kind}-{port}.log"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STRESS_STORE_URL": store_url,
        "STRESS_TABLE": table,
        "STRESS_SECRET": secret,
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 -- our own fixed arguments
            [sys.executable, *command, "--log-level", "warning"],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its workers are stopped with it
        )
    server = Server(kind, "127.0.0.1", port, process, log_path, table)
    try:
        _wait_ready(server, workers)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop gracefully (bounded), then kill whatever is left of the process group."""
    try:
        process.terminate()
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def _wait_ready(server: Server, workers: int) -> None:
    """Until a GET answers 405 and every worker process is up, at most START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited:\n{server.log_path.read_text()}")
        with suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(server.host, server.port, timeout=2)
            try:
                connection.request("GET", PATH)
                ready = connection.getresponse().status == 405
            finally:
                connection.close()
            # uvicorn's supervisor is one more process than gunicorn's arbiter: count workers only.
            if ready and len(server.worker_pids()) >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{server.kind} not ready in {START_TIMEOUT} s:\n{server.log_path.read_text()}"
    )


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (read from /proc, Linux)."""
    pids, index = [root], 0
    while index < len(pids):
        pid = pids[index]
        index += 1
        with suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
    return pids


def _rss(pid: int) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
