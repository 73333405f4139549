"""Running the installed ``idwise-events`` script as users do: subprocesses, real HTTP on loopback.

`run` runs one command to its end; the `listener` fixture starts ``idwise-events listen`` on a free
port and hands each line it prints to the test; every wait is bounded.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

SCRIPT = Path(sys.executable).parent / "idwise-events"
WAIT = 30.0  # seconds: generous, the machine is shared; no test measures time
TOKEN = "cli-test-token"  # noqa: S105 -- a throwaway credential for servers on loopback


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without IDWISE_WEBHOOK_* (the tests set their own), wide output.

    Nor pytest-django's DJANGO_SETTINGS_MODULE: with it, ``--app`` would set Django up first.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("IDWISE_") and name != "DJANGO_SETTINGS_MODULE"
    }
    env["COLUMNS"] = "200"  # tables and lines unwrapped, whatever the terminal running pytest
    return {**env, **(extra or {})}


def run(
    *args: str,
    input: str | None = None,  # subprocess.run's name
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``idwise-events *args`` to its end and return what it did."""
    return subprocess.run(
        [str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        env=environment(env),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failing command writes on stderr (and assert there is no traceback)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


class Listener:
    """A running ``idwise-events listen``: its URL, and the lines it prints, one at a time."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None, cwd: Path | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "listen", "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(env),
            cwd=cwd,
        )
        self._out: queue.Queue[str | None] = queue.Queue()
        self._err: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._pumps = [
            threading.Thread(target=_pump, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self._out),
                (self.process.stderr, self._err),
            )
        ]
        for pump in self._pumps:
            pump.start()
        self.banner = self.error_line()
        found = re.search(r"on (http://127\.0\.0\.1:\d+/\S*) ", self.banner)
        assert found, self.banner
        self.url = found.group(1)

    def line(self) -> str:
        """The next line it prints on stdout (one per delivery)."""
        return _next(self._out, self.process)

    def error_line(self) -> str:
        """The next line it prints on stderr."""
        return _next(self._err, self.process)

    def stop(self) -> tuple[int, str]:
        """Ctrl-C it; return its exit status and what else it wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT)
            pytest.fail("listen did not stop on Ctrl-C")
        rest = []
        while (line := self._err.get(timeout=WAIT)) is not None:
            rest.append(line)
        return status, "\n".join(rest)

    def close(self) -> None:
        """Kill it if it still runs, and close its pipes once read to the end."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        for pump in self._pumps:
            pump.join(timeout=WAIT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)  # end of stream


def _next(lines: queue.Queue[str | None], process: subprocess.Popen[str]) -> str:
    try:
        line = lines.get(timeout=WAIT)
    except queue.Empty:
        pytest.fail(f"listen printed nothing within {WAIT} s")
    if line is None:
        pytest.fail(f"listen exited with {process.wait(timeout=WAIT)}")
    return line


StartListener = Callable[..., Listener]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[StartListener]:
    """Start ``idwise-events listen`` (on a store in tmp_path); every one is stopped afterwards.

    Given ``cwd``, it runs there with its default store, unless ``--db`` is among the arguments.
    """
    started: list[Listener] = []

    def start(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Listener:
        default = "--db" in args or cwd is not None
        db = [] if default else ["--db", str(tmp_path / "listen.db")]
        started.append(Listener([*db, *args], env, cwd))
        return started[-1]

    yield start
    for running in started:
        running.close()
