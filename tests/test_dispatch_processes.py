"""Dispatcher: the one-time warning when a MemoryStore serves one of several processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from idwise_events import Dispatcher, FinishedJourney, MemoryInbox, MemoryStore, NoAuth
from idwise_events.testing import build_request, make_event

from .conftest import in_forked_child

WARNING = "MemoryStore is per process"


class Recorder(logging.Handler):
    """Keeps the messages logged (caplog does not follow a forked or spawned process)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def deliver_twice_and_count_warnings(dispatcher: Dispatcher) -> int:
    """Handle two deliveries in this process; how many per-process warnings were logged."""
    handler = Recorder()
    logger = logging.getLogger("idwise_events")
    logger.addHandler(handler)
    try:
        for _ in range(2):
            dispatcher.handle(build_request(make_event(FinishedJourney), NoAuth()))
    finally:
        logger.removeHandler(handler)
    return sum(WARNING in message for message in handler.messages)


def build_and_deliver(results: multiprocessing.Queue[int]) -> None:
    """In a spawned process, as a server's worker: build the dispatcher, then deliver."""
    results.put(deliver_twice_and_count_warnings(Dispatcher(verifier=NoAuth())))


def test_a_single_process_is_not_warned() -> None:
    """One process with its own MemoryStore is what MemoryStore is for: no warning."""
    assert deliver_twice_and_count_warnings(Dispatcher(verifier=NoAuth())) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_forked_after_the_dispatcher_was_built_is_warned_once() -> None:
    """As under ``gunicorn --preload``: the dispatcher built in the parent, used in a child."""
    dispatcher = Dispatcher(verifier=NoAuth(), store=MemoryStore())

    count = in_forked_child(lambda: str(deliver_twice_and_count_warnings(dispatcher)))

    assert count() == "1"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_with_an_inbox_the_unused_store_is_not_warned_about_but_a_memory_inbox_is(
    tmp_path: Path,
) -> None:
    """With an inbox the store is not used: a SqlInbox is shared, a MemoryInbox is per process."""
    from idwise_events.inbox.sql import SqlInbox

    shared = Dispatcher(verifier=NoAuth(), inbox=SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}"))
    private = Dispatcher(verifier=NoAuth(), inbox=MemoryInbox())

    def warnings_in_child(dispatcher: Dispatcher, said: str) -> str:
        handler = Recorder()
        logging.getLogger("idwise_events").addHandler(handler)
        for _ in range(2):
            dispatcher.handle(build_request(make_event(FinishedJourney), NoAuth()))
        return str(sum(said in message for message in handler.messages))

    assert in_forked_child(lambda: warnings_in_child(shared, "is per process"))() == "0"
    assert (
        in_forked_child(lambda: warnings_in_child(private, "MemoryInbox is per process"))() == "1"
    )


def test_a_spawned_worker_process_is_warned_once() -> None:
    """As under ``uvicorn --workers 4``: each worker process builds its own MemoryStore."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    worker = context.Process(target=build_and_deliver, args=(results,))
    worker.start()
    try:
        assert results.get(timeout=60) == 1
    finally:
        worker.join(timeout=30)


def test_gunicorn_with_several_workers_warns_about_the_memory_store(tmp_path: Path) -> None:
    """The README's app under ``gunicorn -w 2``, each worker importing it after the fork.

    The WSGI server's ``wsgi.multiprocess`` makes the first delivery warn.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    log = tmp_path / "gunicorn.log"
    root = Path(__file__).parent.parent
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*command, "tests.adapters.served:flask()"],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
        try:
            body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
            headers = {"Content-Type": "application/json", "Authorization": "Bearer served-token"}
            deadline = time.monotonic() + 60
            while True:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/webhooks/idwise", body, headers, method="POST"
                    )
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 -- loopback
                        assert answer.status == 200
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    assert log.read_text().count(WARNING) == 1
