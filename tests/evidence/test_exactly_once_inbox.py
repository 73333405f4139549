"""Exactly once through the inbox, on each engine: 200 events, 3 concurrent copies each.

uvicorn and gunicorn with 4 worker processes accept into `SqlInbox`; 4 engine worker processes
drain it: Celery on a real redis-server, procrastinate on the same PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from stress import effects
from stress.engines import ENGINES
from stress.exactly_once import HANDLER_DELAY, inbox_runs, report

from idwise_events.testing.postgres import TemporaryPostgres

from .conftest import once

EVENTS = 200
REQUIRE_REDIS = os.environ.get("IDWISE_EVENTS_REQUIRE_REDIS") == "1"


@pytest.fixture
def database(postgres: TemporaryPostgres | str) -> Iterator[str]:
    """A fresh database on the suite's PostgreSQL (for the inbox and procrastinate's tables)."""
    if isinstance(postgres, str):
        pytest.skip("needs the suite's own PostgreSQL server (its port, for the side effects)")
    name = f"evidence_{uuid.uuid4().hex[:12]}"
    info = effects.conninfo(postgres.port)
    with psycopg.connect(info, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield postgres.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(info, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


@once
@pytest.mark.parametrize("engine", ENGINES)
def test_every_event_accepted_is_processed_exactly_once_by_the_engine_and_none_is_lost(
    engine: str, postgres: TemporaryPostgres, database: str, tmp_path: Path
) -> None:
    """Every delivery got 200, one accepted per event, every delivery done, handlers ran once.

    Under uvicorn and gunicorn; each event's handler ran once on an engine worker (a row in
    PostgreSQL says so), none is missing.
    """
    if engine == "celery" and shutil.which("redis-server") is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if REQUIRE_REDIS:
            pytest.fail(f"{reason}, and IDWISE_EVENTS_REQUIRE_REDIS=1 requires it")
        pytest.skip(reason)
    info = effects.conninfo(postgres.port)
    effects.create(info)
    env = {"STRESS_EFFECTS": info, "STRESS_HANDLER_DELAY": str(HANDLER_DELAY)}
    results = inbox_runs(
        engine, database, tmp_path, env,
        events=EVENTS, copies=3, clients=16, workers=4, seed=4, budget=120,
    )  # fmt: skip
    assert len(results) == 2  # one per server
    for label, result in results:
        assert report(label, result) == []
        assert result.run_counts == {1: EVENTS}
        assert result.outcomes == {"accepted": EVENTS, "duplicate": 2 * EVENTS}
