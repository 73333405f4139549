"""`purge`: the store's retention purge from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

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


def test_purge_refuses_a_database_without_the_table_and_creates_nothing(tmp_path: Path) -> None:
    """A SQLite file that is not a store (or a --table typo): an error naming the table."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table other (id integer)")
    connection.close()

    default = run("purge", "--db", str(path))
    typo = run("purge", "--db", f"sqlite:///{path}", "--table", "idwise_event")

    assert default.returncode == typo.returncode == 1
    assert one_error_line(default) == (
        f"idwise-events purge: error: no table idwise_events_idempotency in sqlite:///{path}:"
        " not an idwise-events store, or its table has another name (--table)"
    )
    assert one_error_line(typo).startswith("idwise-events purge: error: no table idwise_event in")
    assert tables(path) == ["other"]


def test_purge_of_an_inbox_database_points_to_inbox_purge(tmp_path: Path) -> None:
    """The inbox has its own table and command: the error names them."""
    from idwise_events.inbox.sql import SqlInbox

    path = tmp_path / "inbox.db"
    SqlInbox(f"sqlite:///{path}").create_table()

    result = run("purge", "--db", str(path))

    assert result.returncode == 1
    assert one_error_line(result) == (
        f"idwise-events purge: error: no table idwise_events_idempotency in sqlite:///{path}:"
        " it holds an inbox (idwise_events_inbox): purge it with `idwise-events inbox purge`"
    )


def test_purge_of_a_django_projects_database_points_to_its_command(tmp_path: Path) -> None:
    """The Django app's store is its model's table, purged by manage.py: the error says so."""
    path = tmp_path / "db.sqlite3"
    with closing(sqlite3.connect(path)) as django_database:  # as its migration makes it
        django_database.execute("CREATE TABLE idwise_events_receivedevent (key TEXT)")
        django_database.commit()

    result = run("purge", "--db", str(path))

    assert result.returncode == 1
    assert one_error_line(result).endswith(
        "it holds the Django app's store (idwise_events_receivedevent): purge it with"
        " `python manage.py idwise_events_purge`"
    )


@pytest.mark.parametrize(
    "written",
    [
        "sqlite:///{}",
        "sqlite+pysqlite:///{}",
        "sqlite:///file:{}?uri=true",
    ],
)
def test_purge_refuses_a_sqlite_url_to_a_missing_file_without_creating_it(
    written: str, tmp_path: Path
) -> None:
    """Given as a URL rather than a path, a missing file is still named and never created."""
    path = tmp_path / "typo.db"

    result = run("purge", "--db", written.format(path))

    assert result.returncode == 1
    assert one_error_line(result) == f"idwise-events purge: error: no SQLite database at {path}"
    assert list(tmp_path.iterdir()) == []


def test_without_uri_true_a_file_colon_name_is_a_file_name(tmp_path: Path) -> None:
    """``sqlite:///file:events.db`` names a file called ``file:events.db``, refused if missing.

    SQLite reads no URI without ``uri=true``: that ``events.db`` exists does not matter.
    """
    sqlite3.connect(tmp_path / "events.db").close()

    result = run("purge", "--db", "sqlite:///file:events.db", cwd=tmp_path)

    assert (
        one_error_line(result) == "idwise-events purge: error: no SQLite database at file:events.db"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events.db"]


def test_purge_refuses_a_postgresql_table_that_does_not_exist(
    postgres: TemporaryPostgres | str,
) -> None:
    """On PostgreSQL too, a missing table is reported, and not created."""
    url = postgres_url(postgres)
    table = f"missing_{uuid.uuid4().hex[:8]}"

    result = run("purge", "--db", url, "--table", table)

    assert result.returncode == 1
    assert one_error_line(result).startswith(f"idwise-events purge: error: no table {table} in")
    engine = sa.create_engine(url)
    try:
        assert not sa.inspect(engine).has_table(table)
    finally:
        engine.dispose()


def test_purge_says_one_day_in_the_singular(tmp_path: Path) -> None:
    """The retention in the summary reads as English: 1 day, 1.5 days."""
    path = tmp_path / "events.db"
    fill(f"sqlite:///{path}", "idwise_events_idempotency")

    one = run("purge", "--db", str(path), "--retention-days", "1")
    more = run("purge", "--db", str(path), "--retention-days", "1.5")

    assert one.stdout.endswith(" (retention 1 day).\n")
    assert more.stdout.endswith(" (retention 1.5 days).\n")


def tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        names = [row[0] for row in connection.execute("select name from sqlite_master")]
    connection.close()
    return names


@pytest.mark.parametrize("table", ["events[v2]", "events[/x]"])
def test_a_name_with_brackets_is_printed_as_it_is(tmp_path: Path, table: str) -> None:
    """The operator's names are text, not rich markup: "[v2]" was dropped, "[/x]" crashed."""
    path = tmp_path / "events.db"
    fill(f"sqlite:///{path}", table)

    result = run("purge", "--db", str(path), "--table", table)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Purged 2 records from {table} in sqlite:///{path}")
