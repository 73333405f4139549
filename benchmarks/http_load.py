"""HTTP benchmark: the Starlette adapter under uvicorn against plain endpoints, loaded by wrk.

One uvicorn process serves every route (`starlette_app`); wrk loads each in turn over loopback,
in a different order each round, and the best round of each counts. A Lua script gives every
request a new eventId (otherwise all but the first would be duplicates, which the dispatcher
answers without running the handler), and the handler's run count is checked against the
requests wrk completed.

The bar compares the adapter with the bare endpoint (``json.loads``); the second row compares
it with the same steps written by hand, which shows how much of the gap is the work itself.

uvicorn runs with its pure-Python HTTP parser (h11) and asyncio's loop, what ``pip install
uvicorn`` gives; ``UVICORN=standard`` measures httptools and uvloop, what ``uvicorn[standard]``
gives, where the server's own cost is smaller and so the ratios are lower.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from dispatch import BODY_HEAD, BODY_TAIL

TITLE = "Starlette adapter under uvicorn / bare endpoint (wrk, per request)"
BAR = 1.25  # time per request: at most 1.25x, that is at least 0.8x the requests per second
BY_HAND_TITLE = "Starlette adapter under uvicorn / same steps by hand (wrk)"
PLAIN_TITLE = "Starlette adapter, plain def handler / bare endpoint (wrk)"
PLAIN_BAR = 1 / 0.85  # at least 0.85x the bare endpoint's requests per second
HOP_TITLE = "Bare endpoint + one no-op call in the dispatcher's threads / bare endpoint (wrk)"
TO_THREAD_TITLE = "Bare endpoint + one no-op asyncio.to_thread / bare endpoint (wrk)"
HERE = Path(__file__).parent
TOKEN = "kqX0c2VjcmV0LXRva2VuLWZvci1iZW5jaG1hcmtz"  # noqa: S105 -- a benchmark's made-up token
ADAPTER_PATH = "/webhooks/idwise"  # the routes of `starlette_app`
BY_HAND_PATH = "/by-hand"
BARE_PATH = "/bare"
PLAIN_PATH = "/webhooks/idwise-plain"  # the adapter again, with a plain `def` handler
BARE_HOP_PATH = "/bare-hop"  # the bare endpoint, plus one no-op trip to a worker thread
BARE_TO_THREAD_PATH = "/bare-to-thread"  # the same trip through asyncio.to_thread
COUNTED = (ADAPTER_PATH, PLAIN_PATH, BY_HAND_PATH)  # the routes that run the handler
RUNS_PATH = "/runs"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
WRK_ARGS = ["--threads", "1", "--connections", "16", "--duration", "3s", "--timeout", "5s"]
SERVER_ARGS = {
    # uvicorn picks httptools and uvloop by itself when they are installed (its "standard"
    # extra): the figures would depend on what happens to be installed, so say which.
    "h11": ["--http", "h11", "--loop", "asyncio"],  # plain `pip install uvicorn`: the default
    "standard": ["--http", "httptools", "--loop", "uvloop"],  # `pip install "uvicorn[standard]"`
}
UVICORN = os.environ.get("UVICORN", "h11")
"""Which uvicorn to measure: ``h11`` (the default) or ``standard`` (httptools and uvloop)."""

LUA = """-- One new event per request: eventId = <round tag>-<thread>-<counter>.
local head = [==[{head}]==]
local tail = [==[{tail}]==]
local threads = 0
local prefix = ""
local counter = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  prefix = args[1] .. "-" .. thread_number .. "-"
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. prefix .. counter .. tail)
end
"""


@dataclass
class HttpResult:
    """Requests per second of each route, best round of each."""

    adapter_rps: float
    by_hand_rps: float
    bare_rps: float
    plain_rps: float | None = None
    """The adapter with a plain ``def`` handler (what most users write), where the app has one."""
    hop_rps: float | None = None
    """The bare endpoint plus one no-op call in the dispatcher's worker threads."""
    to_thread_rps: float | None = None
    """The bare endpoint plus one no-op ``asyncio.to_thread``."""


def http_comparison(*, rounds: int, quick: bool) -> HttpResult | str:
    """Measure both routes, or say why not (a skip reason) when wrk is missing or in quick mode.

    The server is started and both routes checked in any case, so a quick run tests the setup.
    """
    paths = [ADAPTER_PATH, PLAIN_PATH, BY_HAND_PATH, BARE_PATH, BARE_HOP_PATH, BARE_TO_THREAD_PATH]
    best = measure_routes("starlette_app:app", paths, COUNTED, rounds=rounds, quick=quick)
    if isinstance(best, str):
        return best
    return HttpResult(
        best[ADAPTER_PATH],
        best[BY_HAND_PATH],
        best[BARE_PATH],
        best[PLAIN_PATH],
        best[BARE_HOP_PATH],
        best[BARE_TO_THREAD_PATH],
    )


def measure_routes(
    app: str, paths: list[str], counted: tuple[str, ...], *, rounds: int, quick: bool
) -> dict[str, float] | str:
    """Requests per second of each of ``app``'s ``paths``, best round of each, or a skip reason.

    ``app`` (``module:attribute`` in this folder) is served by one uvicorn process; every path
    is checked first. Each round loads every path in turn, starting from a different one; the
    handler must have run once per request on the ``counted`` paths.
    """
    wrk = shutil.which("wrk")
    with (
        tempfile.TemporaryDirectory(prefix="idwise-bench-http-") as folder,
        uvicorn_serving(Path(folder) / "uvicorn.log", app=app) as base,
    ):
        _check_routes(base, paths, counted)
        if wrk is None:
            return "skipped (wrk not installed)"
        if quick:
            return "skipped (--quick: wrk runs take seconds)"
        script = Path(folder) / "new-event-each-request.lua"
        script.write_text(LUA.format(head=BODY_HEAD.decode(), tail=BODY_TAIL.decode(), token=TOKEN))
        load = [wrk, *WRK_ARGS, "--script", str(script)]
        best = dict.fromkeys(paths, 0.0)
        for round_number in range(rounds + 1):  # round 0 warms every route up, uncounted
            shift = round_number % len(paths)  # no route always goes first
            for path in paths[shift:] + paths[:shift]:
                before = _runs(base)
                rps, completed = _wrk(load, base + path, f"{path}-{round_number}")
                ran = _runs(base) - before
                if path in counted and ran < completed:
                    raise RuntimeError(f"{completed} requests, {ran} handler runs: duplicates?")
                if round_number:
                    best[path] = max(best[path], rps)
    return best


def _check_routes(base: str, paths: list[str], counted: tuple[str, ...]) -> None:
    """One new event to each route: each answers 200, and the handler ran where it should."""
    before = _runs(base)
    for path in paths:
        request = urllib.request.Request(  # noqa: S310 -- loopback
            base + path,
            data=BODY_HEAD + f"check-{path}".encode() + BODY_TAIL,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- loopback
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
    if _runs(base) - before != len(counted):
        raise RuntimeError("the handler did not run once on each route that should run it")


def _wrk(load: list[str], url: str, tag: str) -> tuple[float, int]:
    """Requests per second and requests completed in one wrk run; every answer must be 2xx."""
    run = subprocess.run(  # noqa: S603 -- our own fixed arguments
        [*load, url, "--", tag], capture_output=True, text=True, check=True, timeout=60
    )
    if "Non-2xx" in run.stdout or "Socket errors" in run.stdout:
        raise RuntimeError(f"wrk saw failed requests on {url}:\n{run.stdout}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", run.stdout)
    completed = re.search(r"(\d+) requests in", run.stdout)
    if rps is None or completed is None:
        raise RuntimeError(f"unexpected wrk output:\n{run.stdout}")
    return float(rps.group(1)), int(completed.group(1))


def _runs(base: str) -> int:
    with urllib.request.urlopen(base + RUNS_PATH, timeout=10) as response:  # noqa: S310 -- loopback
        return int(response.read())


@contextmanager
def uvicorn_serving(log_path: Path, *, app: str = "starlette_app:app") -> Iterator[str]:
    """One uvicorn process serving ``app`` (of this folder) on loopback; yields its base URL."""
    if UVICORN not in SERVER_ARGS:
        raise SystemExit(f"UVICORN={UVICORN!r}: expected one of {', '.join(SERVER_ARGS)}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
        *SERVER_ARGS[UVICORN],
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 -- our own fixed arguments
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()}")
            with suppress(urllib.error.URLError, ConnectionError):
                _runs(base)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start in {START_TIMEOUT} s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


if __name__ == "__main__":  # measure only this row: python benchmarks/http_load.py
    print(http_comparison(rounds=int(os.environ.get("ROUNDS", "3")), quick=False))
