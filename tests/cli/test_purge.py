"""`purge`: the store's retention purge from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from idwise_events import Claimed, Completed
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import FakeClock
from idwise_events.testing.postgres import TemporaryPostgres

# The session's PostgreSQL server (it fails instead of skipping when CI requires PostgreSQL).
from tests.conftest import postgres_url

from .conftest import one_error_line, run


def process(store: SqlStore, *keys: str) -> None:
    for key in keys:
        claim = store.claim(key, lease=timedelta(minutes=5), fingerprint="f")
        assert isinstance(claim, Claimed)
        assert store.complete(key, claim.token)


def fill(url: str, table: str) -> None:
    """Two events processed 40 days ago, one today."""
    now = datetime.now(timezone.utc)
    old = SqlStore(url, table_name=table, clock=FakeClock(start=now - timedelta(days=40)))
    process(old, "old-1", "old-2")
    old.close()
    recent = SqlStore(url, table_name=table)
    process(recent, "recent")
    recent.close()


def still_there(url: str, table: str) -> list[str]:
    store = SqlStore(url, table_name=table)
    kept = [
        key
        for key in ("old-1", "old-2", "recent")
        if isinstance(store.claim(key, lease=timedelta(minutes=5), fingerprint="f"), Completed)
    ]
    store.close()
    return kept


def test_purge_removes_what_is_older_than_the_retention_in_a_sqlite_file(tmp_path: Path) -> None:
    """Given a file path, it purges that SQLite store, then finds nothing more to purge."""
    path = tmp_path / "events.db"
    fill(f"sqlite:///{path}", "idwise_events_idempotency")

    first = run("purge", "--db", str(path))
    second = run("purge", "--db", str(path))

    assert first.returncode == second.returncode == 0
    assert first.stdout == (
        f"Purged 2 records from idwise_events_idempotency in sqlite:///{path} (retention 30"
        " days).\n"
    )
    assert second.stdout.startswith("Purged 0 records from")
    assert still_there(f"sqlite:///{path}", "idwise_events_idempotency") == ["recent"]


def test_purge_takes_a_postgresql_url_a_table_and_a_retention(
    postgres: TemporaryPostgres | str,
) -> None:
    """On PostgreSQL with --table and --retention-days 50, the 40-day-old events stay."""
    url = postgres_url(postgres)
    table = f"purge_{uuid.uuid4().hex[:8]}"
    fill(url, table)

    kept = run("purge", "--db", url, "--table", table, "--retention-days", "50")
    purged = run("purge", "--db", url, "--table", table, "--retention-days", "7")

    assert kept.stdout.startswith(f"Purged 0 records from {table} in postgresql+psycopg://")
    assert purged.stdout.startswith(f"Purged 2 records from {table} in postgresql+psycopg://")
    assert purged.stdout.endswith(" (retention 7 days).\n")
    assert still_there(url, table) == ["recent"]


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("{tmp}/typo.db", "no SQLite database at {tmp}/typo.db"),
        ("nosuchdb://host/x", "cannot open the database nosuchdb://host/x: Can't load plugin"),
        ("sqlite://", "cannot open the database sqlite://: an in-memory SQLite database"),
    ],
    ids=["missing-file", "unknown-dialect", "in-memory"],
)
def test_purge_says_in_one_line_why_a_database_cannot_be_opened(
    db: str, message: str, tmp_path: Path
) -> None:
    """A typo never creates an empty database; the reason fits on one line; exit 1."""
    result = run("purge", "--db", db.format(tmp=tmp_path))

    assert result.returncode == 1
    assert one_error_line(result).startswith(
        f"idwise-events purge: error: {message.format(tmp=tmp_path)}"
    )
    assert list(tmp_path.iterdir()) == []
