"""Shared test data and fixtures: event models, the canary secret's guard, a clock, PostgreSQL.

PostgreSQL also backs the test Django project's ``postgresql`` database (tests/django_project)
for the tests marked ``django_db(databases=[..., "postgresql"])``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, get_args
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import settings

from idwise_events import EventType, KnownEvent
from idwise_events.testing.postgres import TemporaryPostgres, postgres_programs_available

DJANGO_POSTGRESQL = "postgresql"
"""The test Django project's database alias on the session's PostgreSQL server."""

# The machines running the suite are shared and noisy: no per-example deadline, which would only
# turn a slow moment into a flaky failure. Timings belong in benchmarks/run.py.
settings.register_profile("idwise", deadline=None)
settings.load_profile("idwise")

# EventType -> model class, read from the `KnownEvent` union itself so a new type cannot be missed.
MODELS: dict[EventType, type[Any]] = {
    model.event_type: model for model in get_args(get_args(KnownEvent)[0])
}

# A secret that must never show up anywhere it could leak: reprs, error messages, log records.
CANARY = "CANARY-s3cr3t-9f2b"


@pytest.fixture
def no_canary_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record of the test and fail it if one mentions the canary secret."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    assert CANARY not in caplog.text
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in repr(record.args)
        assert CANARY not in (record.exc_text or "")


# CI sets this so that a machine without PostgreSQL fails instead of silently skipping.
REQUIRE_POSTGRES = os.environ.get("IDWISE_EVENTS_REQUIRE_POSTGRES") == "1"
# CI sets this for the other Python versions it runs the suite on: PostgreSQL is proved once.
SKIP_POSTGRES = os.environ.get("IDWISE_EVENTS_SKIP_POSTGRES") == "1"
EXTERNAL_URL = os.environ.get("IDWISE_EVENTS_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres | str]:
    """A real PostgreSQL server for the session, or IDWISE_EVENTS_TEST_DATABASE_URL's."""
    if EXTERNAL_URL:
        yield EXTERNAL_URL
        return
    require_postgres_programs()
    with TemporaryPostgres() as server:
        yield server


def require_postgres_programs() -> None:
    """Skip the test without the PostgreSQL server programs; fail instead when CI requires them.

    The message says what is missing and where it was looked for.
    """
    from idwise_events.testing.postgres import postgres_unavailable_reason

    if SKIP_POSTGRES and not REQUIRE_POSTGRES:
        pytest.skip("IDWISE_EVENTS_SKIP_POSTGRES=1: the PostgreSQL tests run on another Python")
    reason = postgres_unavailable_reason()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}, and IDWISE_EVENTS_REQUIRE_POSTGRES=1 requires them")
        pytest.skip(reason)


def postgres_url(postgres: TemporaryPostgres | str) -> str:
    return postgres if isinstance(postgres, str) else postgres.url


def uses_django_postgresql(item: pytest.Item) -> bool:
    """Whether the test is marked to use the Django project's PostgreSQL database."""
    marker = item.get_closest_marker("django_db")
    return marker is not None and DJANGO_POSTGRESQL in (marker.kwargs.get("databases") or ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without PostgreSQL (and not required), skip the Django tests on it, keeping the others.

    Their mark is removed too: pytest-django sets up every database some test is marked with.
    """
    if EXTERNAL_URL or REQUIRE_POSTGRES or postgres_programs_available():
        return
    from idwise_events.testing.postgres import postgres_unavailable_reason

    reason = postgres_unavailable_reason() or "PostgreSQL is not available"
    for item in items:
        if uses_django_postgresql(item):
            item.own_markers[:] = [mark for mark in item.own_markers if mark.name != "django_db"]
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    request: pytest.FixtureRequest, django_db_modify_db_settings_parallel_suffix: None
) -> None:
    """Point the Django project's postgresql database at the session's server, if a test uses it.

    pytest-django then creates its test database there (and drops it at the end of the session).
    """
    if not any(uses_django_postgresql(item) for item in request.session.items):
        return
    from django.conf import settings

    url = urlsplit(postgres_url(request.getfixturevalue("postgres")))
    # connections.settings holds these very dicts: no connection to it exists yet.
    settings.DATABASES[DJANGO_POSTGRESQL].update(
        HOST=url.hostname or "",
        PORT=str(url.port or ""),
        USER=unquote(url.username or ""),
        PASSWORD=unquote(url.password or ""),
        NAME=url.path.lstrip("/") or "postgres",
    )


CANCEL_READY_WAIT = 60.0  # seconds


async def cancel_once(ready: threading.Event, work: Coroutine[Any, Any, object]) -> None:
    """Run ``work`` as a task, cancel it once ``ready`` is set (in a thread), see it cancelled."""
    task = asyncio.create_task(work)
    deadline = time.monotonic() + CANCEL_READY_WAIT
    while not ready.is_set():
        if task.done():  # it ended, or failed, before it was ready: that is the test's error
            await task
            raise AssertionError("the work ended before it was ready to be cancelled")
        if time.monotonic() > deadline:
            task.cancel()
            raise AssertionError(f"the work was not ready within {CANCEL_READY_WAIT:g} s")
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


FORKED_CHILD_WAIT = 60.0  # seconds


def in_forked_child(work: Callable[[], str]) -> Callable[[], str]:
    """Fork; the child runs ``work`` and reports what it returns, which the result reads.

    The child's answer is what ``work`` returned or raised; a child still silent after 60
    seconds is killed, and its answer is "hung".
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads (a store's, an earlier
        # test's lease renewal): the child only does a little work, then exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover -- runs in the child, reported through the pipe
        os.close(read_end)
        try:
            said = work()
        except BaseException as error:  # everything is the answer
            said = f"raised {type(error).__name__}: {error}"
        os.write(write_end, said.encode())
        os._exit(0)
    os.close(write_end)

    def answer() -> str:
        deadline = time.monotonic() + FORKED_CHILD_WAIT
        while os.waitpid(child, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(child, 9)
                os.waitpid(child, 0)
                os.close(read_end)
                return "hung"
            time.sleep(0.02)
        with os.fdopen(read_end) as pipe:
            return pipe.read()

    return answer
