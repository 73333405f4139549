"""The engines' install functions: import guards, what they refuse, the sweep's cron schedule."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import celery
import procrastinate
import pytest

from idwise_events import BearerAuth, Dispatcher, MemoryInbox
from idwise_events.inbox import celery as inbox_celery
from idwise_events.inbox import procrastinate as inbox_procrastinate
from idwise_events.inbox.procrastinate import sweep_cron


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
