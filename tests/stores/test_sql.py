"""SqlStore beyond the shared contract: processes, outages, locking, configuration, the DDL."""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import os
import re
import sqlite3
import threading
import time
import traceback
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from idwise_events import Claimed, Completed, InProgress, StoreError
from idwise_events.inbox.sql import inbox_table
from idwise_events.stores._unsure import UnsureClaims
from idwise_events.stores._watchdog import Watchdog
from idwise_events.stores.sql import DEFAULT_TABLE_NAME, SqlStore, idempotency_table
from idwise_events.testing import FakeClock
from idwise_events.testing.postgres import TemporaryPostgres, _free_port

from ..conftest import in_forked_child, postgres_url, require_postgres_programs
from .conftest import (
    FreezingProxy,
    requires_cancel_safe,
    see_a_late_claim_released,
    updates_running,
)

LEASE = timedelta(minutes=5)
DOCS = Path(__file__).parent.parent.parent / "docs"


def claim_keys(url: str, table: str, keys: list[str], start: Any, results: Any) -> None:
    """Run in a child process: claim every key with a store of its own, report the wins."""
    # 4 processes hammering one SQLite file: a process may wait its turn for the write lock for
    # several seconds on a loaded machine (SQLite's lock is not fair). This test is about who
    # wins each key, not latency, so it waits longer than the 5-second default.
    patience = timedelta(seconds=60)
    try:
        with closing(SqlStore(url, table_name=table, busy_timeout=patience)) as store:
            start.wait(timeout=180)
            claims = {key: store.claim(key, lease=LEASE, fingerprint="a") for key in keys}
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put("".join(traceback.format_exception(exc)))
        return
    results.put([key for key, claim in claims.items() if isinstance(claim, Claimed)])


@pytest.fixture
def open_store() -> Iterator[Callable[..., SqlStore]]:
    """SqlStore, closed (its connections disposed) when the test ends."""
    stores: list[SqlStore] = []

    def factory(*args: Any, **options: Any) -> SqlStore:
        stores.append(SqlStore(*args, **options))
        return stores[-1]

    yield factory
    for store in stores:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return postgres_url(request.getfixturevalue("postgres"))


def test_four_processes_claiming_the_same_keys_get_one_claim_per_key(sql_url: str) -> None:
    """Separate processes, each with its own store and connections, never both win a key.

    The table does not exist beforehand, so the processes also race to create it.
    """
    context = multiprocessing.get_context("spawn")
    table = f"t_{uuid.uuid4().hex[:12]}"
    keys = [f"evt-{number}" for number in range(500)]
    start = context.Barrier(4)
    results = context.Queue()
    workers = [
        context.Process(target=claim_keys, args=(sql_url, table, keys, start, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert [report for report in reports if isinstance(report, str)] == []
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    wins = [key for report in reports for key in report]
    assert Counter(wins) == Counter(keys)


def test_postgres_outage_gives_store_error_and_the_store_recovers(
    open_store: Callable[..., SqlStore],
) -> None:
    """Stopping PostgreSQL mid-test raises StoreError; after a restart the same store works."""
    require_postgres_programs()  # its own server, to stop and start
    with TemporaryPostgres() as server:
        store = open_store(server.url)
        token = store.claim("evt-1", lease=LEASE, fingerprint="a")
        assert isinstance(token, Claimed)

        server.stop()
        with pytest.raises(StoreError) as caught:
            store.claim("evt-2", lease=LEASE, fingerprint="a")
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)
        with pytest.raises(StoreError):
            store.complete("evt-1", token.token)

        server.start()
        assert store.complete("evt-1", token.token) is True
        assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()
        assert isinstance(store.claim("evt-2", lease=LEASE, fingerprint="a"), Claimed)


def test_sqlite_locked_past_the_busy_timeout_gives_store_error(
    tmp_path: Path, open_store: Callable[..., SqlStore]
) -> None:
    """A lock held longer than busy_timeout fails the claim with StoreError, then clears."""
    path = tmp_path / "events.db"
    store = open_store(f"sqlite:///{path}", busy_timeout=timedelta(milliseconds=200))
    store.create_table()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="sqlite idempotency store unavailable") as caught:
            store.claim("evt-1", lease=LEASE, fingerprint="a")
        assert "locked" in str(caught.value.__cause__)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)


def test_refused_connection_gives_store_error_without_the_password(
    open_store: Callable[..., SqlStore],
) -> None:
    """An unreachable database is a StoreError whose message and repr hide the credentials."""
    url = f"postgresql+psycopg://app:CANARY-pw-41@127.0.0.1:{_free_port()}/events"
    store = open_store(url)

    with pytest.raises(StoreError) as caught:
        store.claim("evt-1", lease=LEASE, fingerprint="a")

    assert "CANARY-pw-41" not in str(caught.value)
    assert "Connection refused" in str(caught.value)  # the reason, for whoever reads the log
    assert "CANARY-pw-41" not in repr(store)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    in_query = open_store("postgresql+psycopg://app@127.0.0.1:1/events?password=CANARY-pw-42")
    assert "CANARY-pw-42" not in repr(in_query)  # libpq takes a password there too


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # SQLAlchemy and libpq split at the first "@": the host would be "DNS-tail@127.0.0.1".
        ("postgresql+psycopg://app:pw@CANARY-tail@127.0.0.1:5432/events", "holds an '@'"),
        # ...or as the host, the rest going to the database's name or the query.
        ("postgresql+psycopg://app:pw@CANARY/w@127.0.0.1/events", "holds an '@'"),
        ("postgresql+psycopg://app:pw@CANARY?w@127.0.0.1/events", "holds an '@'"),
        # Then a ":" starts the "port": "invalid literal for int() ...: 'CANARY'" before.
        ("postgresql+psycopg://app:pw@x:CANARY/y@127.0.0.1:5432/events", "not a database URL"),
    ],
)
def test_a_password_not_percent_encoded_is_refused_without_showing_any_of_it(
    url: str, says: str
) -> None:
    """Neither the store's error nor the name it would resolve holds a part of the password."""
    with pytest.raises(sa.exc.ArgumentError) as caught:
        SqlStore(url)

    assert says in str(caught.value)
    assert "%40" in str(caught.value)  # how to write it
    assert "CANARY" not in str(caught.value)
    assert caught.value.__cause__ is None  # SQLAlchemy's own message quotes the URL


@requires_cancel_safe
def test_a_call_that_overran_its_time_limit_is_undone_as_it_is_reported(
    postgres: TemporaryPostgres | str,
) -> None:
    """A complete() stuck on a row lock past network_timeout fails, and stays undone after.

    The watchdog used to cut the socket only: the server went on waiting for the lock, then
    completed the claim that the caller had been told was not completed.
    """
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    table = f"events_{uuid.uuid4().hex[:12]}"
    store = SqlStore(url, table_name=table, network_timeout=timedelta(seconds=1))
    claim = store.claim("evt-locked", lease=LEASE, fingerprint="a")
    assert isinstance(claim, Claimed)
    locker = psycopg.connect(url.replace("+psycopg", "", 1))
    try:
        locker.execute(f"SELECT key FROM {table} WHERE key = 'evt-locked' FOR UPDATE")  # noqa: S608

        with pytest.raises(StoreError, match="did not answer within 1 s"):
            store.complete("evt-locked", claim.token)

        assert updates_running(locker, table) == 0  # cancelled, not waiting for the lock
    finally:
        locker.rollback()
        locker.close()
    time.sleep(0.2)  # were it still waiting, it would complete the claim now
    assert isinstance(store.claim("evt-locked", lease=LEASE, fingerprint="a"), InProgress)
    assert store.release("evt-locked", claim.token)  # still the first claim's, not completed
    store.close()


def test_a_purge_may_take_longer_than_network_timeout(postgres: TemporaryPostgres | str) -> None:
    """Millions of rows take minutes to delete: a purge is not cut (nor cancelled) at 1 s."""
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    table = f"events_{uuid.uuid4().hex[:12]}"
    old = FakeClock(start=datetime.now(timezone.utc) - timedelta(days=40))
    store = SqlStore(url, table_name=table, network_timeout=timedelta(seconds=1), clock=old)
    claim = store.claim("evt-old", lease=LEASE, fingerprint="a")
    assert isinstance(claim, Claimed)
    assert store.complete("evt-old", claim.token)
    store.close()
    store = SqlStore(url, table_name=table, network_timeout=timedelta(seconds=1))
    locker = psycopg.connect(url.replace("+psycopg", "", 1))
    locker.execute(f"SELECT key FROM {table} WHERE key = 'evt-old' FOR UPDATE")  # noqa: S608
    unlock = threading.Timer(2.5, locker.rollback)  # the purge waits 2.5 s for the row
    unlock.start()
    try:
        started = time.monotonic()
        assert store.purge() == 1
        assert time.monotonic() - started > 2
    finally:
        unlock.join()
        locker.close()
        store.close()


class _HeldCancel:
    """A psycopg connection whose statement's cancel waits until the test lets it go."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.let_go = threading.Event()

    def fileno(self) -> int:
        return self.connection.fileno()

    def cancel_safe(self, *, timeout: float) -> None:
        self.let_go.wait(timeout)
        self.connection.cancel_safe(timeout=timeout)


@requires_cancel_safe
def test_done_returns_false_only_once_the_call_is_cancelled_and_cut(
    postgres: TemporaryPostgres | str,
) -> None:
    """done() says False once the cancel was asked for and the socket shut, not before.

    Else a caller that keeps the connection (a Django transaction) had its next statement
    cancelled: a call that ended by itself just past its limit got its cancel later.
    """
    watchdog = Watchdog(0.3)
    connection = psycopg.connect(postgres_url(postgres).replace("+psycopg", "", 1), autocommit=True)
    held = _HeldCancel(connection)
    try:
        ticket = watchdog.watch(held)
        connection.execute("SELECT pg_sleep(0.6)")  # ends by itself, its cancel still held
        answer: list[bool] = []
        ending = threading.Thread(target=lambda: answer.append(watchdog.done(ticket)))
        ending.start()

        assert not answer  # (it answered at once, the cancel and the cut yet to come)
        ending.join(0.1)
        assert ending.is_alive()
        held.let_go.set()
        ending.join(5)
        assert answer == [False]
        with pytest.raises(psycopg.OperationalError):  # cut already: nothing to cancel
            connection.execute("SELECT 'a later call'")
    finally:
        held.let_go.set()
        connection.close()
        watchdog.close()


def test_a_purge_in_flight_does_not_lift_the_other_calls_time_limit(
    postgres: TemporaryPostgres | str,
) -> None:
    """While a purge may wait an hour, a complete() started later is still cut at 1 s.

    The watchdog slept until the earliest deadline it knew, the purge's, when the later call
    came with an earlier one: that call waited as long as the lock did (8 s here).
    """
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    table = f"events_{uuid.uuid4().hex[:12]}"
    old = FakeClock(start=datetime.now(timezone.utc) - timedelta(days=40))
    store = SqlStore(url, table_name=table, network_timeout=timedelta(seconds=1), clock=old)
    done = store.claim("evt-old", lease=LEASE, fingerprint="a")
    claim = store.claim("evt-held", lease=LEASE, fingerprint="a")
    assert isinstance(done, Claimed)
    assert isinstance(claim, Claimed)
    assert store.complete("evt-old", done.token)
    store.close()
    store = SqlStore(url, table_name=table, network_timeout=timedelta(seconds=1))
    store.create_table()
    time.sleep(1.5)  # the watchdog's thread is gone: the purge's call starts it
    locker = psycopg.connect(url.replace("+psycopg", "", 1))
    locker.execute(f"SELECT key FROM {table} FOR UPDATE")  # noqa: S608
    unlock = threading.Timer(8.0, locker.rollback)
    unlock.start()
    purging = threading.Thread(target=store.purge)
    try:
        purging.start()
        assert updates_running(locker, table) == 0  # (a DELETE: not counted)
        time.sleep(0.2)  # the purge is watched first, with its hour

        with pytest.raises(StoreError, match="did not answer within 1 s"):
            store.complete("evt-held", claim.token)
    finally:
        unlock.join()
        purging.join()
        locker.close()
        store.close()


def test_a_store_error_says_why_and_hides_the_password_wherever_the_driver_quotes_it(
    postgres: TemporaryPostgres | str, open_store: Callable[..., SqlStore]
) -> None:
    """The driver's reason is in the message; the URL's password is not, even where quoted."""
    missing = "CANARY-pw-43"  # a database of that name does not exist: the server names it
    url = sa.make_url(postgres_url(postgres)).set(password=missing, database=missing)
    store = open_store(url.render_as_string(hide_password=False))

    with pytest.raises(StoreError) as caught:
        store.claim("evt-1", lease=LEASE, fingerprint="a")

    assert 'database "***" does not exist' in str(caught.value)
    assert missing not in str(caught.value)


def test_a_sqlite_file_that_cannot_be_opened_says_so(
    tmp_path: Path, open_store: Callable[..., SqlStore]
) -> None:
    """A folder that does not exist: the message says the file cannot be opened."""
    store = open_store(f"sqlite:///{tmp_path / 'no-such-folder' / 'events.db'}")

    with pytest.raises(StoreError, match="unable to open database file"):
        store.claim("evt-1", lease=LEASE, fingerprint="a")


def test_a_file_name_instead_of_a_url_is_told_how_to_write_it() -> None:
    """``SqlStore("events.db")``: the URL for that file is in the message."""
    with pytest.raises(sa.exc.ArgumentError, match=re.escape("write 'sqlite:///events.db'")):
        SqlStore("events.db")


@pytest.mark.parametrize(
    "url",
    [
        "host=db.example user=app password=CANARY-pw-44",  # libpq's keywords
        "app:CANARY-pw-44@db.example/events",  # a URL without its scheme
        "postgresql:/app:CANARY-pw-44@db.example/events",  # one slash short
    ],
)
def test_a_malformed_url_is_not_quoted(url: str) -> None:
    """It may hold a password: SQLAlchemy's own message quotes the whole string."""
    with pytest.raises(sa.exc.ArgumentError) as caught:
        SqlStore(url)

    assert "CANARY-pw-44" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # SQLAlchemy's error is not shown either


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    """An in-memory SQLite database cannot be shared by workers: refused with advice."""
    with pytest.raises(ValueError, match="MemoryStore"):
        SqlStore(url)


def test_table_is_created_on_first_use_in_wal_mode(
    tmp_path: Path, open_store: Callable[..., SqlStore]
) -> None:
    """No setup call is needed; the SQLite file ends up in WAL mode with the documented table."""
    path = tmp_path / "events.db"
    store = open_store(f"sqlite:///{path}")

    assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)
    store.create_table()  # idempotent

    with closing(sqlite3.connect(path)) as raw:  # sqlite3's own `with` commits, never closes
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = [row[1] for row in raw.execute(f"PRAGMA table_info({DEFAULT_TABLE_NAME})")]
    assert columns == ["key", "status", "token", "fingerprint", "lease_expires_at", "completed_at"]


def test_an_engine_can_be_passed_and_timestamps_are_utc(sql_url: str) -> None:
    """A ready Engine is used as it is; times come back timezone-aware in UTC."""
    engine = sa.create_engine(sql_url)
    store = SqlStore(engine, table_name=f"t_{uuid.uuid4().hex[:12]}")
    token = store.claim("evt-1", lease=LEASE, fingerprint="f" * 64)
    assert isinstance(token, Claimed)
    assert store.complete("evt-1", token.token)

    with engine.connect() as conn:
        row = conn.execute(sa.select(store.table)).one()
    assert row.status == "completed"
    assert row.fingerprint == "f" * 64
    assert row.completed_at.tzinfo is not None
    assert row.completed_at.utcoffset() == timedelta(0)
    assert row.lease_expires_at - row.completed_at == pytest.approx(LEASE, abs=timedelta(seconds=5))
    assert row.completed_at.astimezone(timezone.utc) == row.completed_at
    engine.dispose()


def test_keys_longer_than_the_column_are_stored_as_a_digest(
    sql_url: str, open_store: Callable[..., SqlStore]
) -> None:
    """An unusually long key still works, and consistently."""
    store = open_store(sql_url, table_name=f"t_{uuid.uuid4().hex[:12]}")
    key = "x" * 1000
    token = store.claim(key, lease=LEASE, fingerprint="a")
    assert isinstance(token, Claimed)
    assert store.complete(key, token.token)
    assert store.claim(key, lease=LEASE, fingerprint="a") == Completed()
    assert isinstance(store.claim(key + "y", lease=LEASE, fingerprint="a"), Claimed)


def test_documented_postgresql_ddl_is_the_table_the_store_creates() -> None:
    """The DDL shown on the Idempotency page is exactly what SqlStore creates on PostgreSQL."""
    page = (DOCS / "idempotency.md").read_text()
    sql_blocks = [block.split("```", 1)[0] for block in page.split("```sql\n")[1:]]
    (documented,) = [block for block in sql_blocks if block.startswith("CREATE TABLE")]
    compiled = str(
        CreateTable(idempotency_table()).compile(
            dialect=sa.create_engine("postgresql+psycopg://").dialect
        )
    )

    def normalised(sql: str) -> str:
        return re.sub(r"\s+", " ", sql).replace("( ", "(").replace(" )", ")").strip(" ;")

    assert normalised(documented) == normalised(compiled)


@pytest.mark.parametrize("key", ["evt\x00nul", "evt\ud800", "é", "x" * 256])
def test_keys_a_database_might_refuse_are_stored_as_the_same_digest_everywhere(
    sql_url: str, open_store: Callable[..., SqlStore], key: str
) -> None:
    """Keys that are not plain ASCII within 255 characters are stored as "sha256:" + digest."""
    store = open_store(sql_url, table_name=f"t_{uuid.uuid4().hex[:12]}")
    assert isinstance(store.claim(key, lease=LEASE, fingerprint="f" * 100), Claimed)

    with store.engine.connect() as conn:
        row = conn.execute(sa.select(store.table.c.key, store.table.c.fingerprint)).one()
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    assert row.key == "sha256:" + digest
    assert row.fingerprint == hashlib.sha256(b"f" * 100).hexdigest()


def test_a_value_the_database_refuses_is_a_value_error_not_an_outage(
    postgres: TemporaryPostgres | str, open_store: Callable[..., SqlStore]
) -> None:
    """A driver DataError (here: a table migrated with a shorter key column) is no StoreError."""
    table = f"t_{uuid.uuid4().hex[:12]}"
    store = open_store(postgres_url(postgres), table_name=table)
    store.create_table()
    with store.engine.connect() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN key TYPE VARCHAR(10)")

    with pytest.raises(ValueError, match="refused a value of this call") as caught:
        store.claim("evt-" + "1" * 20, lease=LEASE, fingerprint="a")

    assert not isinstance(caught.value, StoreError)
    assert "unavailable" not in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.DataError)
    assert isinstance(store.claim("evt-1", lease=LEASE, fingerprint="a"), Claimed)


def call_in_thread(call: Callable[[], object], patience: float = 60) -> tuple[object, float]:
    """Run ``call`` in a thread; return its result or exception, and how long it took.

    Bounded: a call still blocked after ``patience`` seconds fails the test instead of hanging it.
    """
    outcome: list[object] = []

    def run() -> None:
        start = time.monotonic()
        try:
            result: object = call()
        except BaseException as exc:  # returned to the test, which asserts on it
            result = exc
        outcome.extend([result, time.monotonic() - start])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(patience)
    assert not thread.is_alive(), f"the call was still blocked after {patience} s"
    return outcome[0], cast(float, outcome[1])


def test_a_frozen_network_gives_store_error_within_the_network_timeout(
    postgres: TemporaryPostgres | str,
    freezing_proxy: FreezingProxy,
    open_store: Callable[..., SqlStore],
) -> None:
    """A network gone silent after connecting gives StoreError after network_timeout, not a hang."""
    url = freezing_proxy.url(postgres_url(postgres))
    table = f"t_{uuid.uuid4().hex[:12]}"
    store = open_store(url, table_name=table, network_timeout=timedelta(seconds=1))
    first = store.claim("evt-1", lease=LEASE, fingerprint="a")
    assert isinstance(first, Claimed)

    freezing_proxy.freeze()
    error, elapsed = call_in_thread(lambda: store.claim("evt-2", lease=LEASE, fingerprint="a"))

    assert isinstance(error, StoreError), error
    assert str(error) == "postgresql idempotency store did not answer within 1 s"
    assert isinstance(error.__cause__, psycopg.OperationalError)
    assert elapsed < 10  # about 1 s; generous for a loaded machine, and main never returned
    freezing_proxy.thaw()
    assert store.complete("evt-1", first.token) is True
    assert isinstance(store.claim("evt-3", lease=LEASE, fingerprint="a"), Claimed)
    # The abandoned claim may have reached the database once the network thawed: the store
    # releases it (with its token) before claiming the key again.
    assert isinstance(store.claim("evt-2", lease=LEASE, fingerprint="a"), Claimed)


@pytest.mark.parametrize("claimed_again", [True, False], ids=["claimed-again", "left-alone"])
def test_a_claim_recorded_after_its_timeout_is_released_not_left_to_block_retries(
    postgres: TemporaryPostgres | str,
    freezing_proxy: FreezingProxy,
    open_store: Callable[..., SqlStore],
    claimed_again: bool,
) -> None:
    """The server runs a claim whose answer never came: the store releases it once it can.

    Otherwise every retry would get 409 for the rest of the lease (an hour here), past the
    last of IDWise's retries. Released before the key is claimed again, or in the background
    when nothing claims it (another machine may get the retry).
    """
    url = postgres_url(postgres)
    table = f"t_{uuid.uuid4().hex[:12]}"
    store = open_store(
        freezing_proxy.url(url), table_name=table, network_timeout=timedelta(seconds=1)
    )
    other_machine = open_store(url, table_name=table)
    see_a_late_claim_released(store, other_machine, freezing_proxy, claimed_again=claimed_again)


def test_unsure_claims_of_one_key_are_all_released_and_forgotten_on_close() -> None:
    """Two timed-out claims of one key (a retry during the outage): both are released.

    On a real database only the first can be recorded, but the store cannot know which.
    """
    released: list[tuple[str, str]] = []
    answering = threading.Event()

    def release(key: str, token: str) -> bool:
        if not answering.is_set():
            raise StoreError("no answer")
        released.append((key, token))
        return token == "t1"  # noqa: S105 -- a made-up claim token

    unsure = UnsureClaims(release)
    unsure.add("evt", "t1", 3600)
    unsure.add("evt", "t2", 3600)
    unsure.settle("evt")  # the database does not answer: both kept
    answering.set()
    deadline = time.monotonic() + 30
    while "evt" in unsure._claims:
        assert time.monotonic() < deadline, "the unsure claims were never settled"
        time.sleep(0.05)

    assert ("evt", "t1") in released
    assert released.count(("evt", "t2")) == 2  # not recorded: asked twice, a round apart
    unsure.add("other", "t3", 3600)
    unsure.close()
    unsure.add("late", "t4", 3600)
    assert unsure._claims == {}


def test_a_server_that_never_answers_the_connection_gives_store_error(
    postgres: TemporaryPostgres | str,
    freezing_proxy: FreezingProxy,
    open_store: Callable[..., SqlStore],
) -> None:
    """A peer that accepts the TCP connection, then stays silent, is bounded by connect_timeout."""
    freezing_proxy.freeze()
    store = open_store(
        freezing_proxy.url(postgres_url(postgres)), network_timeout=timedelta(seconds=2)
    )

    error, elapsed = call_in_thread(lambda: store.claim("evt-1", lease=LEASE, fingerprint="a"))

    assert isinstance(error, StoreError), error
    assert elapsed < 20  # connect_timeout is 2 s here


def test_the_first_call_after_a_restart_succeeds_with_a_full_pool(
    open_store: Callable[..., SqlStore],
) -> None:
    """After a PostgreSQL restart with 5 dead pooled connections, the first call succeeds."""
    require_postgres_programs()  # its own server, to restart
    with TemporaryPostgres() as server:
        store = open_store(server.url)
        assert isinstance(store.claim("evt-0", lease=LEASE, fingerprint="a"), Claimed)
        pooled = [store.engine.raw_connection() for _ in range(5)]  # the pool's default size
        for connection in pooled:
            connection.close()
        assert store.engine.pool.status().count("Connections in pool: 5") == 1

        server.stop()
        server.start()
        outcomes: list[object] = []
        for number in range(1, 6):
            try:
                outcomes.append(store.claim(f"evt-{number}", lease=LEASE, fingerprint="a"))
            except StoreError as exc:
                outcomes.append(exc)

    assert [type(outcome) for outcome in outcomes] == [Claimed] * 5


def test_libpq_limits_are_set_unless_the_url_sets_them(
    postgres: TemporaryPostgres | str, open_store: Callable[..., SqlStore]
) -> None:
    """connect_timeout, keepalives and tcp_user_timeout have defaults; the URL's values win."""
    url = postgres_url(postgres)
    separator = "&" if "?" in url else "?"
    defaults = open_store(url, network_timeout=timedelta(seconds=3))
    chosen = open_store(f"{url}{separator}connect_timeout=17&keepalives_idle=42")

    def parameters(store: SqlStore) -> dict[str, str]:
        connection = store.engine.raw_connection()
        try:
            return dict(connection.dbapi_connection.info.get_parameters())  # type: ignore[union-attr]
        finally:
            connection.close()

    assert {
        key: parameters(defaults)[key]
        for key in ("connect_timeout", "keepalives", "keepalives_idle", "tcp_user_timeout")
    } == {
        "connect_timeout": "3",
        "keepalives": "1",
        "keepalives_idle": "30",
        "tcp_user_timeout": "3000",
    }
    assert parameters(chosen)["connect_timeout"] == "17"
    assert parameters(chosen)["keepalives_idle"] == "42"


@pytest.mark.parametrize("timeout", [timedelta(0), timedelta(seconds=-1)])
def test_a_network_timeout_that_cannot_hold_is_refused(timeout: timedelta) -> None:
    """network_timeout must be positive."""
    with pytest.raises(ValueError, match="network_timeout must be more than zero"):
        SqlStore("sqlite:///unused.db", network_timeout=timeout)


def test_a_sqlite_store_used_after_close_opens_its_file_again(tmp_path: Path) -> None:
    """As a PostgreSQL store does; it raised AttributeError, in every thread that had called it."""
    store = SqlStore(f"sqlite:///{tmp_path / 'events.db'}")
    first = store.claim("evt-1", lease=LEASE, fingerprint="a")
    assert isinstance(first, Claimed)
    store.close()

    assert store.complete("evt-1", first.token) is True
    assert isinstance(store.claim("evt-2", lease=LEASE, fingerprint="a"), Claimed)
    assert store.purge() == 0
    store.close()


def open_files(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path`` or its WAL files."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) in names)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
@pytest.mark.parametrize("closed", [True, False], ids=["closed", "dropped"])
def test_a_sqlite_store_let_go_in_a_thread_that_lives_on_frees_its_connection(
    tmp_path: Path, closed: bool
) -> None:
    """Stores made and let go one after another in the main thread (a test suite, a reloader).

    The main thread never ends, and a store dropped without `close` kept its file open (two
    descriptors, the file and its WAL) and itself in memory for as long: after about 500, every
    call failed with "unable to open database file". A closed one was kept in memory.
    """
    path = tmp_path / "events.db"
    gone: list[weakref.ref[Any]] = []
    for number in range(40):
        store = SqlStore(f"sqlite:///{path}")
        assert isinstance(store.claim(f"evt-{number}", lease=LEASE, fingerprint="a"), Claimed)
        if closed:
            store.close()
        gone += [weakref.ref(store), weakref.ref(store.engine)]
        del store
    gc.collect()  # closes the connections of the stores it collects,
    gc.collect()  # which were all that still held their engines

    assert open_files(path) == 0
    assert [ref for ref in gone if ref() is not None] == []


def test_a_sqlite_store_closes_the_connection_of_each_thread_once_it_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A thread-per-request server: each ended thread's connection is closed by the next call.

    Not as the thread is torn down, where the pool's checkin and its logging would find no
    current thread (leaving a dummy thread behind, or an error, with the pool's debug log on).
    """
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.pool")  # its records name the thread
    path = tmp_path / "events.db"
    store = SqlStore(f"sqlite:///{path}")
    for number in range(20):
        thread = threading.Thread(
            target=store.claim, args=(f"evt-{number}",), kwargs={"lease": LEASE, "fingerprint": "a"}
        )
        thread.start()
        thread.join()
        if number == 0:
            one_connection = open_files(path)
    assert one_connection > 0
    # Each thread's claim was committed; this call closes the ended threads' connections.
    assert isinstance(store.claim("evt-19", lease=LEASE, fingerprint="a"), InProgress)
    assert open_files(path) == one_connection  # this thread's own, kept for its next call
    assert not any(isinstance(t, threading._DummyThread) for t in threading.enumerate())
    store.close()
    assert open_files(path) == 0


def test_a_closed_postgresql_store_leaves_no_watchdog_thread_behind(
    postgres: TemporaryPostgres | str,
) -> None:
    """Its thread ended at the last call's time limit (10 s), not at close.

    Stores made and closed one after another left hundreds of threads.
    """
    url = postgres_url(postgres)
    for number in range(5):
        with closing(SqlStore(url, table_name="watchdog_threads")) as store:
            assert isinstance(store.claim(f"evt-{number}", lease=LEASE, fingerprint="a"), Claimed)
    deadline = time.monotonic() + 5  # well under the 10 s the threads used to live
    while time.monotonic() < deadline and watchdogs():
        time.sleep(0.01)
    assert watchdogs() == []


def test_after_a_purge_the_watchdog_thread_ends_as_after_any_call(
    postgres: TemporaryPostgres | str,
) -> None:
    """Not an hour later, at the purge's own time limit (a store kept open, or never closed)."""
    store = SqlStore(postgres_url(postgres), table_name="watchdog_threads")
    watchdog = store._watchdog
    assert watchdog is not None
    store.purge()

    deadline = time.monotonic() + 5  # one network_timeout (10 s) would do; an hour would not
    while time.monotonic() < deadline and watchdog._watching:
        time.sleep(0.01)
    assert not watchdog._watching
    store.close()


def watchdogs() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "idwise-events-watchdog"]


@pytest.mark.parametrize("scheme", ["postgres", "postgres+psycopg"])
def test_the_postgres_scheme_heroku_and_libpq_write_is_postgresql(
    scheme: str, postgres: TemporaryPostgres | str, open_store: Callable[..., SqlStore]
) -> None:
    """``postgres://`` (DATABASE_URL on Heroku and others), which SQLAlchemy alone refuses."""
    url = sa.make_url(postgres_url(postgres))
    written = url.render_as_string(hide_password=False).replace(url.drivername, scheme, 1)

    store = open_store(written)

    assert isinstance(store.claim(f"evt-{uuid.uuid4()}", lease=LEASE, fingerprint="f"), Claimed)
    assert store.engine.url.drivername.startswith("postgresql")


@pytest.mark.parametrize("table", [idempotency_table, inbox_table], ids=["store", "inbox"])
def test_the_table_joins_the_metadata_it_is_given_by_keyword(table: Any) -> None:
    """As the docs show it for Alembic; a MetaData given as the name is a clear TypeError."""
    metadata = sa.MetaData()

    added = table(metadata=metadata)

    assert metadata.tables[added.name] is added
    with pytest.raises(TypeError, match="must be a str, not MetaData; give your MetaData as"):
        table(metadata)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_no_unsure_claims_and_a_free_lock() -> None:
    """The parent's claims are the parent's to release; a lock held at the fork is not inherited."""
    unsure = UnsureClaims(lambda key, token: True)
    unsure.add("parent's", "t1", 3600)

    def in_the_child() -> str:
        unsure.add("child's", "t2", 3600)
        return ",".join(unsure._claims)

    with unsure._lock:  # as if the parent's thread held it at the fork
        answer = in_forked_child(in_the_child)
    assert answer() == "child's"


def test_a_claim_retried_on_a_fresh_connection_finds_its_own_row_claimed(
    tmp_path: Path, open_store: Callable[..., SqlStore]
) -> None:
    """The first try committed and its connection died before the answer: the retry is ours.

    `_run` retries once on a fresh connection after a dead one, with the same values; the row
    it finds holds this call's own token, which is a claim, not an event in progress elsewhere.
    """
    store = open_store(f"sqlite:///{tmp_path / 'own.db'}")
    first = store.claim("evt", lease=LEASE, fingerprint="a")
    assert isinstance(first, Claimed)
    now = datetime.now(timezone.utc)
    values = {
        "event_key": "evt",
        "claim_token": first.token,
        "body_fingerprint": "a",
        "expires_at": now + LEASE,
        "now": now,
    }

    again = store._run(lambda session: store._claim(session, values, now))

    assert again == Claimed(first.token)
    other = store._run(lambda session: store._claim(session, {**values, "claim_token": "x"}, now))
    assert isinstance(other, InProgress)
