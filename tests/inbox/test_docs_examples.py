"""The code on the docs' "Acknowledge fast" page runs as shown, on a real SQLite file."""

from __future__ import annotations

import runpy
import time
from datetime import timedelta
from pathlib import Path

import pytest

from idwise_events import FinishedJourney
from idwise_events._inbox import DeliveryState, Inbox
from idwise_events._memory_inbox import MemoryInbox
from idwise_events.testing import FakeClock, make_event

from .conftest import accept_event

EXAMPLES = Path(__file__).parent.parent.parent / "docs" / "examples"
WAIT = 60.0  # seconds, a bounded wait; no test measures time


def test_the_embedded_worker_example_processes_what_its_inbox_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started by the startup hook, the worker runs the handler; the shutdown hook stops it."""
    monkeypatch.chdir(tmp_path)  # the example's sqlite:///idwise-events.db
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "docs-example-token")
    example = runpy.run_path(str(EXAMPLES / "inbox_embedded.py"))
    inbox: Inbox = example["inbox"]
    delivery_id = accept_event(inbox, make_event(FinishedJourney, reference_no="cust-42")).id

    example["on_startup"]()
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and inbox.stats()[DeliveryState.DONE] == 0:
            time.sleep(0.02)
    finally:
        example["on_shutdown"]()
        example["inbox"].close()

    assert (tmp_path / "idwise-events.db").is_file()
    delivery = inbox.get(delivery_id)
    assert delivery is not None
    assert delivery.state is DeliveryState.DONE
    assert "decision for cust-42 Complete" in capsys.readouterr().out


def test_the_operations_example_replays_dead_letters_and_purges(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    inbox = MemoryInbox(clock=clock)
    done, dead = accept_event(inbox).id, accept_event(inbox).id
    for delivery_id, error in ((done, None), (dead, "KeyError: 'journey'")):
        held = inbox.take(delivery_id, lease=timedelta(minutes=5))
        assert held is not None
        if error is None:
            inbox.complete(delivery_id, held.token)
        else:
            inbox.bury(delivery_id, held.token, error=error)
    example = runpy.run_path(str(EXAMPLES / "inbox_operations.py"))

    example["nightly"](inbox)
    assert "1 dead letters to look at" in capsys.readouterr().out
    assert example["replay_dead_letters"](inbox) == 1
    assert "KeyError: 'journey'" in capsys.readouterr().out
    clock.advance(days=31)
    example["nightly"](inbox)
    assert inbox.get(done) is None
    assert inbox.stats()[DeliveryState.PENDING] == 1
