"""The embedded worker, in a thread and as ``idwise-events worker`` (a real subprocess, SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from idwise_events import Dispatcher, Event, FinishedJourney, NoAuth, StoreError
from idwise_events._inbox import DeliveryState
from idwise_events._memory_inbox import MemoryInbox
from idwise_events._process import ProcessOutcome, RetryPolicy, process
from idwise_events.inbox.sql import SqlInbox
from idwise_events.inbox.worker import EmbeddedWorker
from idwise_events.testing import build_request, make_event

from ..cli.conftest import SCRIPT, environment, run
from .conftest import InboxBackend, accept_event

WAIT = 60.0  # seconds, for bounded waits; no test measures time
POLL = timedelta(milliseconds=20)


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_embedded_worker_processes_accepted_deliveries_and_retries(
    inbox_backend: InboxBackend,
) -> None:
    """Started beside the app, it processes every delivery, retrying a failing one, then stops."""
    inbox = inbox_backend.make()
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox)
    seen: list[str] = []
    failures: list[int] = []

    @dispatcher.on(FinishedJourney)
    def handle(event: FinishedJourney) -> None:
        if event.body.reference_no == "flaky" and not failures:
            failures.append(1)
            raise ConnectionError("crm down")
        seen.append(event.body.reference_no or "")

    quick = RetryPolicy(first_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=1))
    references = [f"ref-{number}" for number in range(5)] + ["flaky"]
    ids = [
        accept_event(inbox, make_event(FinishedJourney, reference_no=reference)).id
        for reference in references
    ]

    with EmbeddedWorker(dispatcher, poll_interval=POLL, retries=quick) as worker:
        wait_for(lambda: inbox.stats()[DeliveryState.DONE] == len(ids), "every delivery done")
        assert worker.stop(timeout=WAIT)

    assert sorted(seen) == sorted(references)
    assert failures == [1]


def test_a_worker_never_started_says_so_once_a_delivery_waits_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Created but not started (Flask has no startup hook): a warning, once, not silence."""
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=MemoryInbox())
    worker = EmbeddedWorker(dispatcher, poll_interval=POLL)

    def deliver() -> None:
        response = dispatcher.handle(build_request(make_event(FinishedJourney), NoAuth()))
        assert response.status == 200

    def warnings() -> int:
        return sum("EmbeddedWorker is not running" in r.getMessage() for r in caplog.records)

    deliver()
    deliver()
    assert warnings() == 1
    with worker:  # running, then stopped on purpose: nothing more to say
        deliver()
    deliver()
    assert warnings() == 1


def test_a_replay_where_the_worker_is_not_running_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``inbox replay --app`` imports the app's module, worker included, in a process of its own.

    The app's running worker takes the delivery from the inbox; no warning says otherwise.
    """
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox)
    EmbeddedWorker(dispatcher, poll_interval=POLL)  # created, as in the app's module
    delivery_id = accept_event(inbox).id
    assert process(dispatcher, delivery_id) is ProcessOutcome.DONE

    assert dispatcher.replay(delivery_id)

    assert "EmbeddedWorker is not running" not in caplog.text
    inbox.close()


def test_stop_waits_for_the_current_delivery_and_start_refuses_twice() -> None:
    """stop() lets the running handler finish; the delivery is done, not lost."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox)
    running = threading.Event()
    seen: list[Event] = []

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        running.set()
        time.sleep(0.2)
        seen.append(event)

    delivery_id = accept_event(inbox).id
    worker = EmbeddedWorker(dispatcher, poll_interval=POLL)
    worker.start()
    with pytest.raises(RuntimeError, match="already running"):
        worker.start()
    assert running.wait(WAIT)

    assert worker.stop(timeout=WAIT)
    delivery = inbox.get(delivery_id)
    assert delivery is not None
    assert delivery.state is DeliveryState.DONE
    assert len(seen) == 1


def test_system_exit_from_a_handler_stops_the_worker_thread_with_an_error_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In `start`'s thread a handler's sys.exit() ends the worker: said, not silent.

    The delivery is given back (due at once) for the worker started next.
    """
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox)

    @dispatcher.on(FinishedJourney)
    def gives_up(event: FinishedJourney) -> None:
        sys.exit("a library gave up")

    delivery_id = accept_event(inbox).id
    worker = EmbeddedWorker(dispatcher, poll_interval=POLL)
    worker.start()
    thread = worker._thread
    assert thread is not None
    thread.join(WAIT)

    assert not thread.is_alive()
    (record,) = [r for r in caplog.records if "the embedded worker stopped" in r.getMessage()]
    assert record.levelname == "ERROR"
    assert "a handler raised SystemExit: a library gave up" in record.getMessage()
    assert inbox.due(older_than=timedelta(0), limit=10) == [delivery_id]
    assert worker.stop(timeout=WAIT)


class _SlowToComplete(MemoryInbox):
    """An inbox whose completion takes a while: a stop can arrive meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.completing = threading.Event()
        self.go_on = threading.Event()

    def complete(self, delivery_id: int, token: str) -> bool:
        self.completing.set()
        self.go_on.wait(WAIT)
        return super().complete(delivery_id, token)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_a_second_sigterm_after_the_handlers_lets_the_delivery_complete() -> None:
    """A stop interrupts handlers only, never the completion of their delivery.

    Interrupted there, the delivery would stay held, and its handlers run again after the lease.
    """
    inbox = _SlowToComplete()
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox)
    seen: list[Event] = []
    dispatcher.on(FinishedJourney)(seen.append)
    delivery_id = accept_event(inbox).id

    def stop_twice() -> None:
        # Both signals reach the worker while it completes the delivery (it waits for `go_on`).
        try:
            if inbox.completing.wait(WAIT):
                os.kill(os.getpid(), signal.SIGTERM)  # stop after this delivery...
                time.sleep(0.1)
                os.kill(os.getpid(), signal.SIGTERM)  # ...no, now
                time.sleep(0.2)
        finally:
            inbox.go_on.set()

    stopper = threading.Thread(target=stop_twice)
    stopper.start()
    EmbeddedWorker(dispatcher, poll_interval=POLL).run_forever(grace=timedelta(seconds=WAIT))
    stopper.join(WAIT)

    done = inbox.get(delivery_id)
    assert done is not None
    assert (done.state, len(seen)) == (DeliveryState.DONE, 1)


class _CannotComplete(MemoryInbox):
    """An inbox whose database is down when a delivery is to be completed."""

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0

    def complete(self, delivery_id: int, token: str) -> bool:
        self.tries += 1
        raise StoreError("memory inbox unavailable (as if its database were down)")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_a_stop_reaches_a_worker_that_waits_to_record_an_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The inbox down after the handlers: the worker keeps trying to complete, until stopped.

    Its delivery stays held either way (it runs again once its lease lapses): a stop need not
    wait for the lease, as it waits for a completion under way.
    """
    inbox = _CannotComplete()
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox, lease=timedelta(minutes=5))
    seen: list[Event] = []
    dispatcher.on(FinishedJourney)(seen.append)
    delivery_id = accept_event(inbox).id

    def stop_once_it_retries() -> None:
        try:
            wait_for(lambda: inbox.tries >= 2, "a second try to complete")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_once_it_retries)
    stopper.start()
    EmbeddedWorker(dispatcher, poll_interval=POLL).run_forever(grace=timedelta(seconds=0.2))
    stopper.join(WAIT)

    held = inbox.get(delivery_id)
    assert held is not None
    assert (held.state, len(seen)) == (DeliveryState.PROCESSING, 1)
    assert "its handlers ran, and the inbox could not record it" in caplog.text
    assert (
        f"inbox delivery {delivery_id} has no outcome recorded: the worker stopped before trying"
        " again; it runs again once its lease lapses"
    ) in caplog.text


def test_a_dispatcher_without_an_inbox_is_refused() -> None:
    with pytest.raises(TypeError, match="inbox"):
        EmbeddedWorker(Dispatcher(verifier=NoAuth()))


APP = """
    import os
    import pathlib
    import time

    from idwise_events import Dispatcher, FinishedJourney, NoAuth
    from idwise_events.inbox.sql import SqlInbox

    marks = pathlib.Path(os.environ["MARKS"])
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=SqlInbox(os.environ["INBOX_URL"]))


    @dispatcher.on(FinishedJourney)
    def handle(event):
        first = not (marks / "started").exists()
        (marks / "started").touch()
        if first:
            time.sleep(120)  # the first run is stopped here by SIGTERM
        with open(marks / "done", "a") as done:
            done.write(event.body.reference_no + "\\n")
"""


def start_worker(tmp_path: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(SCRIPT),
            "worker",
            "--app",
            "webhook_app:dispatcher",
            "--poll",
            "0.05",
            "--grace",
            "0.2",
        ],
        cwd=tmp_path,
        env=environment({"INBOX_URL": url, "MARKS": str(tmp_path)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_mid_handler_gives_the_delivery_back_and_a_restart_processes_it(
    tmp_path: Path,
) -> None:
    """idwise-events worker stopped by SIGTERM releases its delivery; the next run processes it."""
    (tmp_path / "webhook_app.py").write_text(textwrap.dedent(APP))
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    inbox = SqlInbox(url)
    event = make_event(FinishedJourney, reference_no="ref-1")
    delivery_id = accept_event(inbox, event).id

    first = start_worker(tmp_path, url)
    try:
        wait_for((tmp_path / "started").exists, "the handler to start")
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=WAIT)
    finally:
        first.kill()
    assert first.returncode == 0, err
    back = inbox.get(delivery_id)
    assert back is not None
    # The attempt is not counted: the handler did not fail, its worker was stopped.
    assert (back.state, back.attempts) == (DeliveryState.PENDING, 0)
    assert back.last_error == "interrupted (the worker was stopped): given back"
    assert (
        f"inbox delivery {delivery_id} Finished Journey {event.event_id}: interrupted (the worker"
        " was stopped): given back after "
    ) in out
    assert not (tmp_path / "done").exists()

    second = start_worker(tmp_path, url)
    try:
        wait_for((tmp_path / "done").exists, "the delivery to be processed")
        wait_for(
            lambda: getattr(inbox.get(delivery_id), "state", None) is DeliveryState.DONE, "done"
        )
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=WAIT)
    finally:
        second.kill()
    assert second.returncode == 0, err
    assert (tmp_path / "done").read_text() == "ref-1\n"
    assert f"inbox delivery {delivery_id} Finished Journey" in out
    assert ": done after attempt 1" in out
    inbox.close()


FAILING_APP = """
    import os

    from idwise_events import Dispatcher, FinishedJourney, NoAuth
    from idwise_events.inbox.sql import SqlInbox

    dispatcher = Dispatcher(verifier=NoAuth(), inbox=SqlInbox(os.environ["INBOX_URL"]))


    @dispatcher.on(FinishedJourney)
    def handle(event):
        raise RuntimeError("always")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_the_worker_command_takes_the_retry_delays(tmp_path: Path) -> None:
    """--first-delay and --max-delay: three attempts 10 ms apart, where the default waits 10 s."""
    (tmp_path / "webhook_app.py").write_text(textwrap.dedent(FAILING_APP))
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    inbox = SqlInbox(url)
    delivery_id = accept_event(inbox).id
    options = ["--max-attempts", "3", "--first-delay", "0.01", "--max-delay", "0.01"]

    worker = subprocess.Popen(
        [str(SCRIPT), "worker", "--app", "webhook_app:dispatcher", "--poll", "0.05", *options],
        cwd=tmp_path,
        env=environment({"INBOX_URL": url}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: getattr(inbox.get(delivery_id), "state", None) is DeliveryState.DEAD, "dead"
        )
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=WAIT)
    finally:
        worker.kill()
        inbox.close()
    assert worker.returncode == 0, err
    assert ": dead after attempt 3" in out
    shorter = run(
        "worker", "--app", "webhook_app:dispatcher", "--first-delay", "2", "--max-delay", "1"
    )
    assert shorter.returncode == 2
    assert "--max-delay (1) is shorter than --first-delay (2): give a" in shorter.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_a_worker_on_an_inbox_never_written_says_so_with_its_whole_path(tmp_path: Path) -> None:
    """Started in another directory than the app, on a relative SQLite path: a new, empty file.

    The banner shows the file's whole path, and a warning says nothing was ever accepted there.
    """
    (tmp_path / "webhook_app.py").write_text(textwrap.dedent(APP))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    worker = subprocess.Popen(
        [str(SCRIPT), "worker", "--app", "webhook_app:dispatcher", "--poll", "0.05"],
        cwd=elsewhere,
        env=environment(
            {"INBOX_URL": "sqlite:///inbox.db", "MARKS": str(tmp_path), "PYTHONPATH": str(tmp_path)}
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The table is made by the worker's first scan, once it handles SIGTERM.
        fresh = SqlInbox(f"sqlite:///{elsewhere / 'inbox.db'}")
        wait_for(fresh.exists, "the worker to scan its inbox")
        fresh.close()
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=WAIT)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    assert f"SqlInbox(sqlite:///{elsewhere / 'inbox.db'}," in err
    # (No file yet, or the file this test's polling made, with no table in it.)
    assert (
        f"Warning: no SQLite database at {elsewhere / 'inbox.db'}." in err
        or "Warning: no inbox table in its database (nothing was ever accepted into it)." in err
    )


class _Outage(MemoryInbox):
    """An inbox whose database is down while ``down`` is set: each scan fails."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.scans = 0

    def due(self, *, older_than: timedelta, limit: int) -> list[int]:
        self.scans += 1
        if self.down.is_set():
            raise StoreError("memory inbox unavailable (as if its database were down)")
        return super().due(older_than=older_than, limit=limit)


def test_an_outage_is_said_once_while_it_lasts_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed scan at every poll is one warning, with its cause; the recovery one more."""
    inbox = _Outage()
    dispatcher = Dispatcher(verifier=NoAuth(), inbox=inbox)
    seen: list[Event] = []
    dispatcher.on(FinishedJourney)(seen.append)
    inbox.down.set()
    worker = EmbeddedWorker(dispatcher, poll_interval=POLL)
    worker.start()
    try:
        wait_for(lambda: inbox.scans >= 5, "five failed scans")
        inbox.down.clear()
        accept_event(inbox)
        wait_for(lambda: len(seen) == 1, "the delivery, once the inbox answers again")
    finally:
        assert worker.stop(timeout=WAIT)

    said = [
        r.getMessage()
        for r in caplog.records
        if "scan" in r.getMessage() or "again" in r.getMessage()
    ]
    assert said == [
        "the embedded worker's scan failed (StoreError: memory inbox unavailable (as if its"
        f" database were down)); it tries again every {POLL.total_seconds():g} s, and says"
        " when it succeeds",
        "the embedded worker reads the inbox again",
    ]
    assert all(record.exc_info is None for record in caplog.records)
