"""Store benchmarks: SqlStore claim+complete against the same SQL sent through the driver itself.

Each event is claimed then completed (two statements, each committed on its own, as the store
does). Both sides use the same database file or server, durable settings (fsync on), fresh keys.
On PostgreSQL, threads too: SqlStore's throughput against psycopg_pool's (8 connections) running
the same SQL, at 1, 2, 4 and 8 threads.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from harness import Comparison
from idwise_events import Claimed, MemoryStore, as_async_store
from idwise_events.stores.sql import SqlStore
from idwise_events.testing.postgres import TemporaryPostgres, postgres_programs_available
from parsing import parse_current

LEASE = timedelta(minutes=5)
FINGERPRINT = "f" * 64
_KEYS = itertools.count()  # cheap fresh keys: a uuid4 costs as much as a MemoryStore claim

# What SqlStore sends, written out by hand for the driver-only baseline.
CLAIM_SQL = (
    "INSERT INTO {table} (key, status, token, fingerprint, lease_expires_at)"
    " VALUES ({p}, 'in_progress', {p}, {p}, {p})"
    " ON CONFLICT (key) DO UPDATE SET token = excluded.token,"
    " lease_expires_at = excluded.lease_expires_at"
    " WHERE {table}.status = 'in_progress' AND {table}.lease_expires_at <= {p}"
    " RETURNING token, fingerprint"
)
COMPLETE_SQL = (
    "UPDATE {table} SET status = 'completed', completed_at = {p} WHERE key = {p} AND token = {p}"
)


def store_cycle(store: Any) -> None:
    """One event through a store: claim, then complete with the token (fresh keys: Claimed)."""
    key = f"evt-{next(_KEYS)}"
    claim = store.claim(key, lease=LEASE, fingerprint=FINGERPRINT)
    assert isinstance(claim, Claimed)
    store.complete(key, claim.token)


def driver_cycle(connection: Any, claim_sql: str, complete_sql: str, *, sqlite_text: bool) -> None:
    """The same two statements through the DB-API connection directly (autocommit)."""
    key, token = f"evt-{next(_KEYS)}", uuid.uuid4().hex  # the store makes a uuid4 token too
    now = datetime.now(timezone.utc)
    expires = now + LEASE
    if sqlite_text:  # SQLite keeps naive UTC text, as SqlStore writes it
        now_v: Any = now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        expires_v: Any = expires.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    else:
        now_v, expires_v = now, expires
    # fetchall, not fetchone: SQLite commits an autocommit statement only once it is stepped to
    # the end, and the store reads the whole (one-row) result too.
    rows = connection.execute(claim_sql, (key, token, FINGERPRINT, expires_v, now_v)).fetchall()
    assert rows[0][0] == token
    connection.execute(complete_sql, (now_v, key, token))


async def async_cycles(store: Any, count: int) -> None:
    """``count`` events through an async store, inside one event loop."""
    for _ in range(count):
        key = f"evt-{next(_KEYS)}"
        claim = await store.claim(key, lease=LEASE, fingerprint=FINGERPRINT)
        assert isinstance(claim, Claimed)
        await store.complete(key, claim.token)


class InlineSqlStore(SqlStore):
    """The baseline for the thread hop: a SqlStore that async code calls straight from its loop."""

    blocking = False


THREADS = (1, 2, 4, 8)
CYCLES_PER_THREAD = 200  # a full run; a quick one does a tenth


def threaded(cycle: Callable[[], None], threads: int, cycles: int) -> Callable[[], None]:
    """Run ``cycles`` cycles on each of ``threads`` threads, started together; wait for all."""

    def run() -> None:
        start = threading.Barrier(threads)

        def worker() -> None:
            start.wait()
            for _ in range(cycles):
                cycle()

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

    return run


def pool_cycle(pool: Any, claim_sql: str, complete_sql: str) -> None:
    """The same two statements through psycopg_pool, one checkout each, as the store does."""
    key, token = f"evt-{next(_KEYS)}", uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    with pool.connection() as connection:
        rows = connection.execute(claim_sql, (key, token, FINGERPRINT, now + LEASE, now)).fetchall()
        assert rows[0][0] == token
    with pool.connection() as connection:
        connection.execute(complete_sql, (now, key, token))


def store_comparisons(stack: ExitStack, *, quick: bool = False) -> list[Comparison]:
    """Comparisons for MemoryStore, SqlStore on SQLite and (if installed) PostgreSQL."""
    memory = MemoryStore()
    comparisons = [
        Comparison(
            "MemoryStore claim+complete / parse_event(bytes)",
            lambda: store_cycle(memory),
            parse_current,
        )
    ]

    folder = Path(mkdtemp(prefix="idwise-bench-"))
    sqlite_store = SqlStore(f"sqlite:///{folder / 'events.db'}", table_name="store_side")
    stack.callback(sqlite_store.close)
    inline_store = InlineSqlStore(f"sqlite:///{folder / 'events.db'}", table_name="store_side")
    stack.callback(inline_store.close)
    _create_table(f"sqlite:///{folder / 'events.db'}", "driver_side")
    sqlite_raw = sqlite3.connect(folder / "events.db", isolation_level=None, timeout=5)
    stack.callback(sqlite_raw.close)
    claim_sql, complete_sql = _sql("driver_side", "?")
    comparisons += [
        Comparison(
            "SqlStore(SQLite) claim+complete / same SQL via sqlite3",
            lambda: store_cycle(sqlite_store),
            lambda: driver_cycle(sqlite_raw, claim_sql, complete_sql, sqlite_text=True),
            bar=1.3,
            number=100,
        ),
        Comparison(
            "SqlStore(SQLite) x20 in a loop via as_async_store / inline",
            lambda: asyncio.run(async_cycles(as_async_store(sqlite_store), 20)),
            lambda: asyncio.run(async_cycles(as_async_store(inline_store), 20)),
            number=5,
        ),
    ]

    if postgres_programs_available():
        import psycopg

        server = stack.enter_context(TemporaryPostgres(fsync=True))
        pg_store = SqlStore(server.url, table_name="store_side")
        stack.callback(pg_store.close)
        _create_table(server.url, "driver_side")
        pg_raw = psycopg.connect(
            f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True
        )
        stack.callback(pg_raw.close)
        pg_claim_sql, pg_complete_sql = _sql("driver_side", "%s")
        comparisons.append(
            Comparison(
                "SqlStore(PostgreSQL) claim+complete / same SQL via psycopg",
                lambda: store_cycle(pg_store),
                lambda: driver_cycle(pg_raw, pg_claim_sql, pg_complete_sql, sqlite_text=False),
                bar=1.3,
                number=100,
            )
        )
        comparisons += _thread_comparisons(stack, server, pg_claim_sql, pg_complete_sql, quick)
    return comparisons


def _thread_comparisons(
    stack: ExitStack, server: TemporaryPostgres, claim_sql: str, complete_sql: str, quick: bool
) -> list[Comparison]:
    """SqlStore against psycopg_pool (8 connections) at 1, 2, 4 and 8 threads."""
    try:
        from psycopg_pool import ConnectionPool
    except ImportError:
        return []
    store = SqlStore(server.url, table_name="store_side", pool_size=8)
    stack.callback(store.close)
    pool = ConnectionPool(
        f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres",
        min_size=8,
        max_size=8,
        kwargs={"autocommit": True},
        open=True,
    )
    stack.callback(pool.close)
    pool.wait()
    cycles = CYCLES_PER_THREAD // 10 if quick else CYCLES_PER_THREAD
    return [
        Comparison(
            f"SqlStore(PostgreSQL) x{threads} threads / psycopg_pool, same SQL",
            threaded(lambda: store_cycle(store), threads, cycles),
            threaded(lambda: pool_cycle(pool, claim_sql, complete_sql), threads, cycles),
            bar=1 / 0.9,  # time for the same work: at least 0.9x psycopg_pool's throughput
            number=1,  # one batch per round: `cycles` cycles on each thread
        )
        for threads in THREADS
    ]


def _create_table(url: str, table: str) -> None:
    store = SqlStore(url, table_name=table)
    store.create_table()
    store.close()


def _sql(table: str, placeholder: str) -> tuple[str, str]:
    return (
        CLAIM_SQL.format(table=table, p=placeholder),
        COMPLETE_SQL.format(table=table, p=placeholder),
    )
