"""The app with ``IDWISE_EVENTS["INBOX"]``: acknowledged at once, processed by a worker.

The inbox contract itself runs on `DjangoInbox` in tests/inbox/test_contract.py, on SQLite and
PostgreSQL; here, the app around it: the dispatcher the setting builds, the signals sent when
the delivery is processed, and ``manage.py idwise_events_worker`` in a process of its own.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from django.urls import path

from idwise_events import BearerAuth, Dispatcher, FinishedJourney, ManuallyReviewed
from idwise_events._inbox import DeliveryState
from idwise_events._process import ProcessOutcome, process
from idwise_events.contrib.django import signals
from idwise_events.contrib.django._settings import load_config
from idwise_events.contrib.django._wiring import build_dispatcher
from idwise_events.contrib.django.inbox import DjangoInbox
from idwise_events.contrib.django.management.commands import (
    idwise_events_worker as worker_command,
)
from idwise_events.contrib.django.models import InboxDelivery, ReceivedEvent
from idwise_events.contrib.django.views import webhook_view
from idwise_events.testing import make_event

from ...adapters import django_urls
from ...cli.conftest import one_error_line
from ...cli.conftest import run as run_cli
from ...django_project.verifications.models import JourneyOutcome
from ...inbox.conftest import see_a_late_take_given_back
from .conftest import URL, body_of, post
from .test_store import answers_held_by_a_proxy

ROOT = Path(__file__).parents[3]


@pytest.fixture
def inbox_dispatcher(settings: Any) -> Dispatcher:
    """The dispatcher ``"INBOX": True`` builds, serving the app's URL."""
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": True}
    built = build_dispatcher(load_config())
    django_urls.urlpatterns.append(path(URL.lstrip("/"), webhook_view(built)))
    return built


def test_the_setting_gives_the_dispatcher_a_django_inbox(settings: Any) -> None:
    """INBOX True: a DjangoInbox; False or absent: none."""
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": True}
    assert isinstance(build_dispatcher(load_config()).inbox, DjangoInbox)
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": False}
    assert build_dispatcher(load_config()).inbox is None


def test_an_invalid_inbox_setting_is_an_error_with_a_hint(settings: Any) -> None:
    """Anything but True or False is E010, whose hint says what the inbox needs."""
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": "yes"}

    [error] = load_config().problems

    assert error.id == "idwise_events.E010"
    assert "'yes'" in error.msg
    assert "idwise_events_worker" in (error.hint or "")
    assert load_config().inbox is False


@pytest.mark.django_db(transaction=True)
def test_a_delivery_is_acknowledged_then_processed_with_its_signals(
    client: Client, inbox_dispatcher: Dispatcher
) -> None:
    """200 "accepted" with a pending row and no signal; processing sends them; a retry is 200."""
    received: list[Any] = []

    def receiver(sender: type[Any], event: Any, **kwargs: Any) -> None:
        received.append(event)

    signals.event_received.connect(receiver)
    try:
        event = make_event(ManuallyReviewed)
        assert post(client, body_of(event)) == (200, "accepted")
        row = InboxDelivery.objects.get()
        assert (row.state, row.event_id, bytes(row.body)) == (
            "pending",
            event.event_id,
            body_of(event),
        )
        assert received == []

        assert process(inbox_dispatcher, row.id) is ProcessOutcome.DONE

        assert received == [event]
        assert InboxDelivery.objects.get().state == DeliveryState.DONE.value
        assert post(client, body_of(event)) == (200, "duplicate")
        assert InboxDelivery.objects.count() == 1
        # The delivery's row is the record: no idempotency row is written beside it.
        assert not ReceivedEvent.objects.exists()
    finally:
        signals.event_received.disconnect(receiver)


def test_the_worker_command_refuses_a_project_without_the_inbox() -> None:
    """Without INBOX there is nothing to process: a CommandError says so."""
    with pytest.raises(CommandError, match="INBOX"):
        call_command("idwise_events_worker")


@pytest.mark.parametrize("option", ["--grace=inf", "--grace=nan", "--poll=1e12", "--poll=0"])
def test_the_worker_command_refuses_seconds_out_of_range(option: str) -> None:
    """As `idwise-events worker` does: an infinite grace or a poll past an hour is an error."""
    with pytest.raises(CommandError, match=f"argument {option.split('=')[0]}: invalid seconds"):
        call_command("idwise_events_worker", option)


def test_the_worker_command_refuses_a_max_delay_shorter_than_the_first(settings: Any) -> None:
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": True}
    shorter = r"--max-delay \(1\) is shorter than --first-delay \(2\)"
    with pytest.raises(CommandError, match=shorter):
        call_command("idwise_events_worker", "--first-delay=2", "--max-delay=1")


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_runs_the_projects_handlers_and_stops_on_sigterm() -> None:
    """manage.py idwise_events_worker processes a stored delivery with webhooks.py's handler.

    It runs as a process of its own on the tests' database, prints one line for the delivery,
    and exits cleanly on SIGTERM.
    """
    event = make_event(FinishedJourney, journey_id="journey-worker-1")
    body = body_of(event)
    accepted = DjangoInbox().accept(
        key=event.idempotency_key,
        event_type=event.event,
        event_id=event.event_id,
        fingerprint="f" * 64,
        body=body,
    )
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environ["IDWISE_EVENTS_TEST_SQLITE"] = str(connections["default"].settings_dict["NAME"])
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "idwise_events_worker",
            "--settings=tests.django_project.settings_inbox",
            "--poll=0.1",
            "--first-delay=0.5",
            "--max-delay=2",
        ],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if InboxDelivery.objects.filter(id=accepted.id, state="done").exists():
                break
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()

    assert worker.returncode == 0, stderr
    assert InboxDelivery.objects.get(id=accepted.id).state == "done"
    outcome = JourneyOutcome.objects.get(event_id=event.idempotency_key)
    assert outcome.journey_id == "journey-worker-1"
    assert f"inbox delivery {accepted.id} Finished Journey {event.event_id}: done" in stdout
    assert "Worker stopped." in stderr


@pytest.mark.django_db(transaction=True)
def test_the_replay_command_takes_the_django_apps_own_dispatcher() -> None:
    """``inbox replay --app idwise_events.contrib.django:dispatcher`` sets Django up first.

    As ``manage.py`` does, from ``DJANGO_SETTINGS_MODULE``; without it, it says to set it.
    """
    event = make_event(FinishedJourney, journey_id="journey-replayed-1")
    inbox = DjangoInbox()
    accepted = inbox.accept(
        key=event.idempotency_key,
        event_type=event.event,
        event_id=event.event_id,
        fingerprint="f" * 64,
        body=body_of(event),
    )
    dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=inbox)
    assert process(dispatcher, accepted.id) is ProcessOutcome.DONE
    app = "idwise_events.contrib.django:dispatcher"
    sqlite = str(connections["default"].settings_dict["NAME"])
    environ = {"IDWISE_EVENTS_TEST_SQLITE": sqlite, "DJANGO_SETTINGS_MODULE": ""}

    unset = run_cli("inbox", "replay", str(accepted.id), "--app", app, env=environ, cwd=ROOT)
    environ["DJANGO_SETTINGS_MODULE"] = "tests.django_project.settings_inbox"
    replayed = run_cli("inbox", "replay", str(accepted.id), "--app", app, env=environ, cwd=ROOT)

    assert unset.returncode == 1
    assert "set DJANGO_SETTINGS_MODULE to your project's settings" in one_error_line(unset)
    assert (replayed.returncode, replayed.stderr) == (0, "")
    assert (
        f"Replaying delivery {accepted.id}: your dispatcher has no on_accepted hook to enqueue it:"
        in replayed.stdout
    )
    assert InboxDelivery.objects.get(id=accepted.id).state == "pending"


PROJECT_WEBHOOKS = """
from idwise_events import BearerAuth, Dispatcher
from idwise_events.contrib.django.inbox import DjangoInbox
{models}

class ProjectInbox(DjangoInbox):
    pass


dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=ProjectInbox())
"""


@pytest.mark.django_db(transaction=True)
def test_the_replay_command_sets_django_up_for_a_projects_own_module(tmp_path: Path) -> None:
    """A module that imports the project's models at the top, on a subclass of DjangoInbox.

    Django is set up before the import whenever DJANGO_SETTINGS_MODULE is set, or after it if
    the module sets it itself; without it, a dispatcher on a subclass of Django's inbox is told
    to set it, not an unexpected error.
    """
    models = "from tests.django_project.verifications.models import JourneyOutcome"
    (tmp_path / "project_webhooks.py").write_text(PROJECT_WEBHOOKS.format(models=models))
    (tmp_path / "bare_webhooks.py").write_text(PROJECT_WEBHOOKS.format(models=""))
    sets_its_own = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "{}")\n'.format(
        "tests.django_project.settings_inbox"
    )  # as manage.py and Celery's proj/celery.py do
    (tmp_path / "own_webhooks.py").write_text(sets_its_own + PROJECT_WEBHOOKS.format(models=""))
    dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=DjangoInbox())
    done = []
    for n in range(2):
        event = make_event(FinishedJourney, journey_id=f"journey-replayed-{n + 2}")
        accepted = DjangoInbox().accept(
            key=event.idempotency_key,
            event_type=event.event,
            event_id=event.event_id,
            fingerprint="f" * 64,
            body=body_of(event),
        )
        assert process(dispatcher, accepted.id) is ProcessOutcome.DONE
        done.append(str(accepted.id))
    sqlite = str(connections["default"].settings_dict["NAME"])
    environ = {
        "IDWISE_EVENTS_TEST_SQLITE": sqlite,
        "DJANGO_SETTINGS_MODULE": "tests.django_project.settings_inbox",
        "PYTHONPATH": str(ROOT),
    }
    without = {name: value for name, value in environ.items() if name != "DJANGO_SETTINGS_MODULE"}

    replayed = run_cli("inbox", "replay", done[0], "--app", "project_webhooks:dispatcher",
                       env=environ, cwd=tmp_path)  # fmt: skip
    own = run_cli("inbox", "replay", done[1], "--app", "own_webhooks:dispatcher",
                  env=without, cwd=tmp_path)  # fmt: skip
    unset = run_cli("inbox", "replay", done[1], "--app", "bare_webhooks:dispatcher",
                    env=without, cwd=tmp_path)  # fmt: skip

    assert (replayed.returncode, replayed.stderr) == (0, "")
    assert (own.returncode, own.stderr) == (0, "")
    assert [InboxDelivery.objects.get(id=int(i)).state for i in done] == ["pending"] * 2
    assert unset.returncode == 1
    assert one_error_line(unset) == (
        "idwise-events inbox replay: error: --app: bare_webhooks's dispatcher keeps its"
        " deliveries with Django: set DJANGO_SETTINGS_MODULE to your project's settings"
    )


@pytest.mark.parametrize("verbosity", [1, 2])
def test_the_worker_command_shows_a_failed_attempts_traceback_at_verbosity_2(
    verbosity: int,
) -> None:
    """-v 2: a retried or dead delivery's line is followed by its handler's traceback."""
    out = io.StringIO()
    command = worker_command.Command(stdout=out, stderr=io.StringIO())
    lines = worker_command._LineHandler(command, logging.INFO)
    lines.tracebacks = verbosity >= 2
    try:
        raise ConnectionError("crm down")
    except ConnectionError:
        failure = sys.exc_info()
    record = logging.LogRecord(
        "idwise_events", logging.WARNING, __file__, 1, "inbox delivery 7: retried", (), failure
    )
    record.delivery_id = 7

    lines.emit(record)

    shown = out.getvalue()
    assert shown.startswith("inbox delivery 7: retried")
    assert ("Traceback (most recent call last)" in shown) is (verbosity >= 2)
    assert ("ConnectionError: crm down" in shown) is (verbosity >= 2)


def test_a_take_recorded_after_its_timeout_is_given_back(django_db_blocker: Any) -> None:
    """PostgreSQL records a take whose answer never came: given back, as `SqlInbox` does."""
    with answers_held_by_a_proxy(django_db_blocker) as (proxy, alias, direct):
        held = DjangoInbox(using=alias, network_timeout=timedelta(seconds=1))
        see_a_late_take_given_back(held, DjangoInbox(using=direct), proxy)
