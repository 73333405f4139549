"""HTTP benchmark: each adapter under its real server against a bare endpoint of the same framework.

One server process per framework serves both routes of its app (`adapter_apps`): the adapter's
and a bare endpoint (``json.loads``, 200). wrk loads each route in turn, in alternating order,
each request carrying a new eventId (the Lua script of `http_load`), and the best round of each
counts. Starlette is measured by `http_load` (with its bar); these rows have no bar.

The servers: the ASGI app and FastAPI under uvicorn; the WSGI app, Flask and Django under
gunicorn (one sync worker); aiohttp under its own server. A quick run starts each server and
checks both routes, without wrk.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from adapter_apps import ADAPTER_PATH, BARE_PATH, TOKEN
from dispatch import BODY_HEAD, BODY_TAIL
from http_load import LUA

HERE = Path(__file__).parent
START_TIMEOUT = 30.0
WRK_ARGS = ["--threads", "1", "--connections", "16", "--duration", "2s", "--timeout", "5s"]


@dataclass(frozen=True)
class Target:
    """A framework's app under its server."""

    title: str
    server: str  # uvicorn, gunicorn or aiohttp
    app: str  # the name in `adapter_apps`


TARGETS = [
    Target("ASGI app under uvicorn / bare ASGI callable", "uvicorn", "asgi"),
    Target("FastAPI router under uvicorn / bare FastAPI route", "uvicorn", "fastapi_app"),
    Target("WSGI app under gunicorn / bare WSGI callable", "gunicorn", "wsgi"),
    Target("Flask blueprint under gunicorn / bare Flask route", "gunicorn", "flask_app"),
    Target("Django view under gunicorn / bare Django view", "gunicorn", "django_app"),
    Target("aiohttp route under aiohttp.web / bare aiohttp handler", "aiohttp", "aiohttp_app"),
]


@dataclass
class Measured:
    """Requests per second of both routes (best round), or why they were not measured."""

    target: Target
    adapter_rps: float = 0.0
    bare_rps: float = 0.0
    skipped: str = ""


def adapter_http_rows(*, rounds: int, quick: bool) -> Iterator[Measured]:
    """Each target measured (or its skip reason); every server is started and checked anyway."""
    wrk = shutil.which("wrk")
    with tempfile.TemporaryDirectory(prefix="idwise-bench-adapters-") as name:
        folder = Path(name)
        script = folder / "new-event-each-request.lua"
        script.write_text(LUA.format(head=BODY_HEAD.decode(), tail=BODY_TAIL.decode(), token=TOKEN))
        for target in TARGETS:
            with serving(target, folder) as base:
                _check(base)
                if wrk is None:
                    yield Measured(
                        target, skipped="skipped (wrk not installed: apt-get install wrk)"
                    )
                    continue
                if quick:
                    yield Measured(target, skipped="skipped (--quick: wrk runs take seconds)")
                    continue
                best = {ADAPTER_PATH: 0.0, BARE_PATH: 0.0}
                for round_number in range(rounds + 1):  # round 0 warms up, uncounted
                    paths = list(best) if round_number % 2 else list(best)[::-1]
                    for path in paths:
                        rps = _wrk([wrk, *WRK_ARGS, "--script", str(script)], base + path,
                                   f"{target.app}-{path}-{round_number}")  # fmt: skip
                        if round_number:
                            best[path] = max(best[path], rps)
                yield Measured(target, best[ADAPTER_PATH], best[BARE_PATH])


def _check(base: str) -> None:
    """One new event to each route: both answer 200."""
    host, port = base.removeprefix("http://").split(":")
    for path in (ADAPTER_PATH, BARE_PATH):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            body = BODY_HEAD + f"check-{path}-{time.time_ns()}".encode() + BODY_TAIL
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
            connection.request("POST", path, body=body, headers=headers)
            status = connection.getresponse().status
        finally:
            connection.close()
        if status != 200:
            raise RuntimeError(f"{base}{path} answered {status}")


def _wrk(load: list[str], url: str, tag: str) -> float:
    run = subprocess.run(  # noqa: S603 -- our own fixed arguments
        [*load, url, "--", tag], capture_output=True, text=True, check=True, timeout=60
    )
    if "Non-2xx" in run.stdout or "Socket errors" in run.stdout:
        raise RuntimeError(f"wrk saw failed requests on {url}:\n{run.stdout}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", run.stdout)
    if rps is None:
        raise RuntimeError(f"unexpected wrk output:\n{run.stdout}")
    return float(rps.group(1))


@contextmanager
def serving(target: Target, folder: Path) -> Iterator[str]:
    """The target's server, one process (or one worker), on loopback; yields its base URL."""
    port = _free_port()
    host = ["--host", "127.0.0.1", "--port", str(port)]
    if target.server == "uvicorn":
        command = ["-m", "uvicorn", f"adapter_apps:{target.app}", "--app-dir", str(HERE), *host,
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
    elif target.server == "gunicorn":
        command = ["-m", "gunicorn", f"adapter_apps:{target.app}", "--chdir", str(HERE),
                   "--workers", "1", "--bind", f"127.0.0.1:{port}",
                   "--log-level", "warning"]  # fmt: skip
    else:
        command = ["-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port),
                   f"adapter_apps:{target.app}"]  # fmt: skip
    log_path = folder / f"{target.app}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 -- our own fixed arguments
            [sys.executable, *command], cwd=HERE, env=env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"{target.server} exited:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.server} did not start in {START_TIMEOUT} s")
            time.sleep(0.1)
        yield base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", ADAPTER_PATH)
        return connection.getresponse().status == 405
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":  # only these rows: python benchmarks/adapters_http.py
    for measured in adapter_http_rows(rounds=int(os.environ.get("ROUNDS", "2")), quick=False):
        print(measured)
