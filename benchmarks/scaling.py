"""Scaling: how the cost grows with the body's size, and with the records a store holds.

- Body size (200 B to 1 MiB): `Dispatcher.handle` on a new event (a fresh eventId in a body of
  that size, fields IDWise may add) against ``json.loads`` of the same fresh body, the least a
  receiver does.
- Stored records (10^3 to 10^6 rows, SQLite and PostgreSQL): SqlStore's claim+complete on a new
  key, with that many completed records already in its table, against the same on a table of
  10^3. The claim is one indexed insert-if-absent, so this must stay flat. Tables are filled by
  one bulk ``INSERT ... SELECT`` each (not by claims, which would take hours). A quick run
  stops at 10^4 rows.
"""

from __future__ import annotations

import itertools
import json
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import mkdtemp

import sqlalchemy as sa

from dispatch import LEASE, TOKEN, no_op
from harness import Comparison
from idwise_events import BearerAuth, Dispatcher, FinishedJourney, MemoryStore, WebhookRequest
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import auth_headers
from idwise_events.testing.postgres import TemporaryPostgres, postgres_programs_available
from parsing import MIB, with_extra_fields
from stores import store_cycle

SIZES = {"200 B": 200, "4 KiB": 4096, "64 KiB": 65_536, "256 KiB": 262_144, "1 MiB": MIB - 1024}
ROWS = (10**3, 10**4, 10**5, 10**6)
QUICK_ROWS = (10**3, 10**4)
HANDLE = "Dispatcher.handle (verified, typed, exactly once)"
LOADS = "json.loads (untyped dict)"
_IDS = itertools.count()


def sized_bodies() -> dict[str, bytes]:
    """A Finished Journey of each size (eventId ``e-1``)."""
    return {label: with_extra_fields(size) for label, size in SIZES.items()}


def body_size_comparisons() -> list[Comparison]:
    """`Dispatcher.handle` / ``json.loads`` at each size, each call on a body never seen before."""
    verifier = BearerAuth(TOKEN)
    headers = {"Content-Type": "application/json", **auth_headers(verifier)}
    # The largest body is about 1 MiB, a little over the default limit once its JSON is counted.
    dispatcher = Dispatcher(
        verifier=verifier, store=MemoryStore(), lease=LEASE, max_body_bytes=MIB + 65_536
    )
    dispatcher.on(FinishedJourney)(no_op)
    rows = []
    for label, body in sized_bodies().items():
        head, tail = body.split(b'"e-1"')
        number = max(3, 2_000_000 // len(body))

        def handle(head: bytes = head, tail: bytes = tail) -> None:
            fresh = b'%s"sz-%d"%s' % (head, next(_IDS), tail)
            response = dispatcher.handle(WebhookRequest(fresh, headers, "203.0.113.9"))
            assert response.status == 200, response.body

        def loads(head: bytes = head, tail: bytes = tail) -> object:
            return json.loads(b'%s"sz-%d"%s' % (head, next(_IDS), tail))

        handle()
        rows.append(
            Comparison(f"Dispatcher.handle({label} body) / json.loads", handle, loads,
                       number=number, series=(HANDLE, LOADS), x=len(body))
        )  # fmt: skip
    return rows


def stored_rows_comparisons(stack: ExitStack, *, quick: bool) -> list[Comparison]:
    """claim+complete with N stored records / with 10^3, on SQLite and (if installed) PostgreSQL."""
    counts = QUICK_ROWS if quick else ROWS
    folder = Path(mkdtemp(prefix="idwise-bench-rows-"))
    urls = {"SQLite": f"sqlite:///{folder / 'rows.db'}"}
    if postgres_programs_available():
        urls["PostgreSQL"] = stack.enter_context(TemporaryPostgres(fsync=True)).url
    rows = []
    for engine, url in urls.items():
        stores = {}
        for count in counts:
            store = SqlStore(url, table_name=f"rows_{count}")
            stack.callback(store.close)
            store.create_table()
            _fill(store, count)
            stores[count] = store
        smallest = stores[counts[0]]
        for count in counts[1:]:
            rows.append(
                Comparison(
                    f"SqlStore({engine}) claim+complete, {count:.0e} stored / {counts[0]:.0e}",
                    lambda store=stores[count]: store_cycle(store),  # type: ignore[misc]
                    lambda smallest=smallest: store_cycle(smallest),  # type: ignore[misc]
                    number=100,
                    series=(
                        f"SqlStore({engine}) claim+complete",
                        f"SqlStore({engine}) claim+complete",
                    ),
                    x=count,
                    x_baseline=counts[0],
                )
            )
    return rows


def _fill(store: SqlStore, count: int) -> None:
    """``count`` completed records in the store's table, in one statement."""
    table = store.table.name
    now = datetime.now(timezone.utc)
    columns = "key, status, token, fingerprint, lease_expires_at, completed_at"
    with store.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            stamp = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat(sep=" ")
            connection.execute(
                sa.text(
                    "WITH RECURSIVE n(i) AS"  # noqa: S608 -- our own table name
                    " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
                    f" INSERT INTO {table} ({columns})"
                    " SELECT 'old-' || i, 'completed', 'token', :fingerprint, :stamp, :stamp FROM n"
                ),
                {"count": count, "fingerprint": "f" * 64, "stamp": stamp},
            )
        else:
            connection.execute(
                sa.text(
                    f"INSERT INTO {table} ({columns})"  # noqa: S608 -- our own table name
                    " SELECT 'old-' || i, 'completed', 'token', :fingerprint, :stamp, :stamp"
                    " FROM generate_series(1, :count) AS i"
                ),
                {"count": count, "fingerprint": "f" * 64, "stamp": now - timedelta(hours=1)},
            )
            connection.execute(sa.text(f"ANALYZE {table}"))
