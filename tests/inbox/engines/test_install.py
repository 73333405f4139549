"""The engines' install functions: import guards, what they refuse, the sweep's cron schedule."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

import celery
import procrastinate
import pytest

from idwise_events import (
    BearerAuth,
    DeliveryState,
    Dispatcher,
    FinishedJourney,
    Inbox,
    MemoryInbox,
    ProcessOutcome,
    process,
)
from idwise_events.inbox import celery as inbox_celery
from idwise_events.inbox import procrastinate as inbox_procrastinate
from idwise_events.inbox.procrastinate import sweep_cron
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import build_request, make_event

from ...conftest import in_forked_child
from .app import procrastinate_engine


@pytest.mark.parametrize("engine", ["celery", "procrastinate"])
def test_a_missing_engine_gives_an_import_error_naming_the_extra(engine: str) -> None:
    """The ImportError's message is the pip command to run."""
    code = (
        f"import sys; sys.modules[{engine!r}] = None\n"
        "try:\n"
        f"    import idwise_events.inbox.{engine}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert f'pip install "idwise-events[{engine}]"' in printed


def test_install_refuses_a_dispatcher_without_an_inbox() -> None:
    """Without an inbox there is nothing to process: a TypeError says what is missing."""
    dispatcher = Dispatcher(verifier=BearerAuth("token"))
    with pytest.raises(TypeError, match="inbox"):
        inbox_celery.install(celery.Celery(set_as_current=False), dispatcher)
    connector = procrastinate.PsycopgConnector(conninfo="postgresql://127.0.0.1:1/none")
    with pytest.raises(TypeError, match="inbox"):
        inbox_procrastinate.install(procrastinate.App(connector=connector), dispatcher)


def test_install_warns_that_a_memory_inbox_is_not_seen_by_the_workers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each engine's workers run in processes of their own: a MemoryInbox there is empty."""
    connector = procrastinate.PsycopgConnector(conninfo="postgresql://127.0.0.1:1/none")

    def installs(inbox: Inbox) -> list[str]:
        caplog.clear()
        dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=inbox)
        inbox_celery.install(celery.Celery(set_as_current=False), dispatcher)
        inbox_procrastinate.install(procrastinate.App(connector=connector), dispatcher)
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    warned = installs(MemoryInbox())
    sql = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    quiet = installs(sql)
    sql.close()

    assert [message.split(" runs ")[0] for message in warned] == ["Celery", "procrastinate"]
    assert all("a MemoryInbox is per process" in message for message in warned)
    assert quiet == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_procrastinate_warns_in_a_process_forked_after_its_app_was_opened(
    procrastinate_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Under `gunicorn --preload`, an app opened at import gives each worker the parent's pool.

    A new user's defers hung until gunicorn killed the worker, with no word of why.
    """
    app = procrastinate_engine(procrastinate_database)[0]

    def warned() -> str:  # in the child: what the fork hook logged there
        return " | ".join(r.getMessage() for r in caplog.records if "forked" in r.getMessage())

    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        before_opening = in_forked_child(warned)()
        with app.open():
            opened = in_forked_child(warned)()

    assert before_opening == ""
    assert opened.startswith("procrastinate's app was opened before this process was forked")
    assert "post_fork" in opened


def test_celery_install_refuses_a_second_dispatcher_and_a_sweep_that_never_waits() -> None:
    """Two refusals: a second install on one app, and a sweep that never waits.

    The tasks' names are fixed, so the second dispatcher would run the first one's jobs; a
    sweep every 0 s would run without end, enqueuing deliveries whose job is under way.
    """
    app = celery.Celery(set_as_current=False)
    dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=MemoryInbox())
    with pytest.raises(ValueError, match="sweep_every must be positive"):
        inbox_celery.install(app, dispatcher, sweep_every=timedelta(0))
    inbox_celery.install(app, dispatcher)
    other = Dispatcher(verifier=BearerAuth("token"), inbox=MemoryInbox())
    with pytest.raises(RuntimeError, match="one dispatcher per app"):
        inbox_celery.install(app, other)
    inbox_celery.install(celery.Celery(set_as_current=False), other)  # another app: fine


def test_each_celery_app_of_a_process_runs_its_own_dispatchers_jobs() -> None:
    """The tasks are not shared: an app made later does not get the first app's tasks.

    Celery's shared tasks would give the second app the first dispatcher's process task, which
    would look for its deliveries in the first inbox.
    """
    first = Dispatcher(verifier=BearerAuth("a"), inbox=MemoryInbox())
    second = Dispatcher(verifier=BearerAuth("b"), inbox=MemoryInbox())
    first_app = celery.Celery("first", set_as_current=False)
    inbox_celery.install(first_app, first)
    assert "idwise_events.process" in first_app.tasks  # finalised, as a worker's app is
    second_app = celery.Celery("second", set_as_current=False)
    inbox_celery.install(second_app, second)
    ran: list[str] = []
    first.on(FinishedJourney)(lambda event: ran.append("first"))
    second.on(FinishedJourney)(lambda event: ran.append("second"))
    assert second.inbox is not None
    delivery_id = second.inbox.accept(
        key="evt-1",
        event_type="Finished Journey",
        event_id="evt-1",
        fingerprint="f",
        body=make_event(FinishedJourney, event_id="evt-1").model_dump_json(by_alias=True).encode(),
    ).id

    outcome = second_app.tasks["idwise_events.process"].run(delivery_id)

    assert (outcome, ran) == ("done", ["second"])


@pytest.mark.parametrize(
    ("every", "cron"),
    [
        (timedelta(seconds=1), "* * * * * */1"),
        (timedelta(seconds=15), "* * * * * */15"),
        (timedelta(minutes=1), "*/1 * * * *"),
        (timedelta(minutes=5), "*/5 * * * *"),
        (timedelta(hours=1), "*/60 * * * *"),
    ],
)
def test_the_sweep_interval_becomes_a_cron_schedule(every: timedelta, cron: str) -> None:
    """Seconds dividing a minute get a seconds field; minutes dividing an hour do not."""
    assert sweep_cron(every) == cron


@pytest.mark.parametrize(
    "every",
    [timedelta(seconds=7), timedelta(milliseconds=500), timedelta(minutes=7), timedelta(hours=2)],
)
def test_a_sweep_interval_cron_cannot_express_is_refused(every: timedelta) -> None:
    """A cron step restarts each minute or hour: other intervals would not be kept."""
    with pytest.raises(ValueError, match="sweep_every"):
        sweep_cron(every)


@contextmanager
def silent_broker() -> Iterator[str]:
    """A "Redis" on 127.0.0.1 that accepts connections and never answers, until the test ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        done.set()
        thread.join(timeout=30)
        for connection in held:
            connection.close()
        listener.close()


def test_a_broker_that_never_answers_does_not_hold_the_webhooks_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The delivery is stored and answered 200; the failed enqueue is logged (the sweep's job).

    kombu waits for a Redis broker without end unless the app sets timeouts: ``install`` sets
    them. Without them this delivery is answered only when the broker closes the connection.
    """
    verifier = BearerAuth("token")
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=verifier, inbox=inbox)
    answers: list[int] = []
    with silent_broker() as broker:
        app = celery.Celery(broker=broker, set_as_current=False)
        inbox_celery.install(app, dispatcher)
        request = build_request(make_event(FinishedJourney), verifier)
        delivering = threading.Thread(
            target=lambda: answers.append(dispatcher.handle(request).status), daemon=True
        )
        delivering.start()
        delivering.join(timeout=60)

        assert answers == [200]
    assert inbox.stats()[DeliveryState.PENDING] == 1
    assert any(
        "inbox delivery 1 is stored, but its Celery task could not be sent" in record.getMessage()
        for record in caplog.records
    )
    assert app.conf.broker_transport_options["socket_timeout"] == 5.0


def test_a_broker_down_is_a_warning_for_a_new_delivery_and_an_error_for_a_replay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new delivery waits for the sweep (a warning naming it); a replay is told it failed.

    The replay's caller (``inbox replay --app``, the Django admin) reports a hook that raised:
    the Celery hook raises there rather than only logging.
    """
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    verifier = BearerAuth("token")
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=verifier, inbox=inbox)
    inbox_celery.install(
        celery.Celery(broker=f"redis://127.0.0.1:{port}/0", set_as_current=False), dispatcher
    )
    caplog.clear()  # (the warning about a MemoryInbox: this test's workers are its own calls)

    response = dispatcher.handle(build_request(make_event(FinishedJourney), verifier))

    assert response.status == 200
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert "inbox delivery 1 is stored, but its Celery task could not be sent" in (
        warning.getMessage()
    )
    assert process(dispatcher, 1) is ProcessOutcome.DONE
    caplog.clear()

    assert dispatcher.replay(1)

    [error] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert "on replayed delivery 1; it is pending" in error.getMessage()
    assert error.getMessage().startswith("hook the Celery enqueue of idwise_events.inbox.celery")
    assert getattr(error, "replayed_delivery_id", None) == 1


@pytest.mark.parametrize("engine", ["celery", "procrastinate"])
def test_a_sweep_that_cannot_read_the_inbox_says_so_in_one_line(
    engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An inbox outage: each tick's sweep logs a warning and returns, not a failed task."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    inbox = SqlInbox(
        f"postgresql+psycopg://app@127.0.0.1:{port}/events",
        network_timeout=timedelta(seconds=2),
    )
    dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=inbox)
    if engine == "celery":
        app = celery.Celery(broker="redis://127.0.0.1:9/0", set_as_current=False)
        swept = inbox_celery.install(app, dispatcher).sweep()
    else:
        connector = procrastinate.PsycopgConnector(conninfo="postgresql://127.0.0.1:9/none")
        tasks = inbox_procrastinate.install(procrastinate.App(connector=connector), dispatcher)
        swept = tasks.sweep(timestamp=0)
    inbox.close()

    assert swept == 0
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert warning.getMessage().startswith(
        "the sweep could not read the inbox (postgresql inbox unavailable ("
    )
    assert warning.getMessage().endswith("); the next one, in 60 s, tries again")


def test_install_keeps_the_apps_own_broker_timeouts() -> None:
    """A timeout the app sets is kept; other transports are left as they are."""
    dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=MemoryInbox())
    redis_app = celery.Celery(broker="redis://127.0.0.1:9/0", set_as_current=False)
    redis_app.conf.broker_transport_options = {"socket_timeout": 30}
    amqp_app = celery.Celery(broker="amqp://127.0.0.1:9//", set_as_current=False)

    for app in (redis_app, amqp_app):
        inbox_celery.install(app, dispatcher)

    assert redis_app.conf.broker_transport_options == {
        "socket_timeout": 30,
        "socket_connect_timeout": 5.0,
    }
    assert amqp_app.conf.broker_transport_options == {}


class DjangoStyleSettings:
    """Settings as a Django project gives Celery (``namespace="CELERY"``)."""

    CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}  # noqa: RUF012 -- settings


@pytest.mark.parametrize("configured_first", [False, True], ids=["before", "after"])
def test_broker_timeouts_outlive_a_configuration_loaded_after_install(
    configured_first: bool,
) -> None:
    """``app.config_from_object(...)`` after ``install`` replaces the configuration: not them."""
    app = celery.Celery(broker="redis://127.0.0.1:9/0", set_as_current=False)
    if configured_first:
        assert app.conf.broker_url  # loads the configuration now
    inbox_celery.install(app, Dispatcher(verifier=BearerAuth("token"), inbox=MemoryInbox()))

    app.config_from_object(DjangoStyleSettings, namespace="CELERY")

    assert app.conf.broker_transport_options == {
        "socket_timeout": 5.0,
        "socket_connect_timeout": 5.0,
        "visibility_timeout": 3600,
    }
