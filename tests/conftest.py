"""Shared test data and fixtures: event models, the canary secret's guard, a clock, PostgreSQL."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from hypothesis import settings

from idwise_events import EventType, KnownEvent
from idwise_events.testing.postgres import TemporaryPostgres, postgres_programs_available

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
    """Skip the test without the PostgreSQL server programs; fail instead when CI requires them."""
    if SKIP_POSTGRES and not REQUIRE_POSTGRES:
        pytest.skip("IDWISE_EVENTS_SKIP_POSTGRES=1: the PostgreSQL tests run on another Python")
    if not postgres_programs_available():
        reason = "PostgreSQL server programs (initdb, pg_ctl) are not installed"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}, and IDWISE_EVENTS_REQUIRE_POSTGRES=1 requires them")
        pytest.skip(reason)


def postgres_url(postgres: TemporaryPostgres | str) -> str:
    return postgres if isinstance(postgres, str) else postgres.url
