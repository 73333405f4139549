"""HTTP benchmark: the FastAPI router under uvicorn against a bare FastAPI endpoint, loaded by wrk.

Measured exactly as the Starlette row (`http_load`): one uvicorn process serving `fastapi_app`,
wrk loading each route in turn over loopback, in a different order each round, a new eventId for
every request, the best round of each route counting.

    python benchmarks/fastapi_load.py   # ROUNDS=3 by default
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
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from dispatch import BODY_HEAD, BODY_TAIL
from http_load import (
    ADAPTER_PATH,
    BARE_PATH,
    BY_HAND_PATH,
    COUNTED,
    HERE,
    LUA,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TOKEN,
    HttpResult,
    _check_routes,
    _runs,
    _wrk,
)

TITLE = "FastAPI router under uvicorn / bare FastAPI endpoint (wrk, per request)"
BAR = 1 / 0.9  # time per request: at most 1.11x, that is at least 0.9x the requests per second
BY_HAND_TITLE = "FastAPI router under uvicorn / same steps by hand (wrk)"
WRK_ARGS = ["--threads", "1", "--connections", "16", "--duration", "3s", "--timeout", "5s"]


def fastapi_comparison(*, rounds: int, quick: bool) -> HttpResult | str:
    """Measure the three routes of `fastapi_app`, or say why not (as `http_comparison` does)."""
    wrk = shutil.which("wrk")
    with (
        tempfile.TemporaryDirectory(prefix="idwise-bench-fastapi-") as folder,
        _serving(Path(folder) / "uvicorn.log") as base,
    ):
        _check_routes(base)
        if wrk is None:
            return "skipped (wrk not installed)"
        if quick:
            return "skipped (--quick: wrk runs take seconds)"
        script = Path(folder) / "new-event-each-request.lua"
        script.write_text(LUA.format(head=BODY_HEAD.decode(), tail=BODY_TAIL.decode(), token=TOKEN))
        load = [wrk, *WRK_ARGS, "--script", str(script)]
        paths = [ADAPTER_PATH, BY_HAND_PATH, BARE_PATH]
        best = dict.fromkeys(paths, 0.0)
        for round_number in range(rounds + 1):  # round 0 warms every route up, uncounted
            shift = round_number % len(paths)
            for path in paths[shift:] + paths[:shift]:
                before = _runs(base)
                rps, completed = _wrk(load, base + path, f"{path}-{round_number}")
                if path in COUNTED and _runs(base) - before < completed:
                    raise RuntimeError(f"{completed} requests on {path}, fewer handler runs")
                if round_number:
                    best[path] = max(best[path], rps)
    return HttpResult(best[ADAPTER_PATH], best[BY_HAND_PATH], best[BARE_PATH])


@contextmanager
def _serving(log_path: Path) -> Iterator[str]:
    """One uvicorn process serving `fastapi_app` on loopback (as `http_load.uvicorn_serving`)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
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


if __name__ == "__main__":
    result = fastapi_comparison(rounds=int(os.environ.get("ROUNDS", "3")), quick=False)
    if isinstance(result, str):
        print(TITLE, result)
    else:
        print(f"{TITLE}: {result.adapter_rps / result.bare_rps:.2f}x the requests per second")
        print(
            f"  router {result.adapter_rps:.0f} req/s, bare {result.bare_rps:.0f} req/s,"
            f" by hand {result.by_hand_rps:.0f} req/s"
        )
