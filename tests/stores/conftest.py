"""Store fixtures: every backend behind one parametrized factory, and a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from idwise_events import IdempotencyStore, MemoryStore
from idwise_events.stores.sql import SqlStore
from idwise_events.testing.postgres import TemporaryPostgres, postgres_programs_available

# CI sets this so that a machine without PostgreSQL fails instead of silently skipping.
REQUIRE_POSTGRES = os.environ.get("IDWISE_EVENTS_REQUIRE_POSTGRES") == "1"
EXTERNAL_URL = os.environ.get("IDWISE_EVENTS_TEST_DATABASE_URL")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


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
    if not postgres_programs_available():
        reason = "PostgreSQL server programs (initdb, pg_ctl) are not installed"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}, and IDWISE_EVENTS_REQUIRE_POSTGRES=1 requires them")
        pytest.skip(reason)


def postgres_url(postgres: TemporaryPostgres | str) -> str:
    return postgres if isinstance(postgres, str) else postgres.url


BACKENDS = ["memory", "sqlite", "sqlite-portable", "postgresql", "postgresql-portable"]
StoreFactory = Callable[..., IdempotencyStore]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Build stores of one backend; SQL stores get a table of their own for each test."""
    backend: str = request.param
    url = None
    if backend.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'events.db'}"
    elif backend.startswith("postgresql"):
        url = postgres_url(request.getfixturevalue("postgres"))
    table = f"t_{uuid.uuid4().hex[:12]}"
    stores: list[SqlStore] = []

    def factory(**options: Any) -> IdempotencyStore:
        if url is None:
            return MemoryStore(**options)
        store = SqlStore(url, table_name=table, **options)
        if backend.endswith("portable"):
            # Exercise the path other dialects take (insert, then conditional update) on a real
            # database: without the dialect-specific upsert the store falls back to it.
            store._upsert = None
        stores.append(store)
        return store

    yield factory
    for store in stores:
        store.engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
