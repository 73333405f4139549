"""`SqlStore`: the idempotency store on SQLAlchemy 2 Core, for SQLite, PostgreSQL or any dialect.

```python
from idwise_events.stores.sql import SqlStore

store = SqlStore("sqlite:///idwise-events.db")                        # embedded, one machine
store = SqlStore("postgresql+psycopg://app@db.internal/app")          # shared by many machines
```
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar, cast

try:
    import sqlalchemy as sa
    from sqlalchemy import event as sa_event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import postgresql, sqlite
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.stores.sql needs SQLAlchemy: pip install "idwise-events[sql]"'
        ' (add "postgres" for the PostgreSQL driver)'
    ) from _missing

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIModule

from .._errors import StoreError
from .._store import (
    DEFAULT_RETENTION,
    Claimed,
    ClaimResult,
    Clock,
    Completed,
    InProgress,
    check_lease,
    report_fingerprint_mismatch,
    retry_after,
    utc_now,
)
from ._compiled import CompiledStatement, read_time, time_binder
from ._keys import FINGERPRINT_LENGTH, MAX_KEY_LENGTH, stored_fingerprint, stored_key
from ._watchdog import Watchdog

__all__ = ["DEFAULT_TABLE_NAME", "SqlStore", "idempotency_table"]

DEFAULT_TABLE_NAME = "idwise_events_idempotency"
"""The table `SqlStore` uses unless told otherwise."""

_CONNECT_TIMEOUT = 5  # seconds (or network_timeout if shorter), unless the URL says otherwise
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")
_FIRST_CONNECT_TICKET = "idwise_events.watchdog_ticket"
_IN_PROGRESS, _COMPLETED = "in_progress", "completed"
_T = TypeVar("_T")


class _UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; ``timestamptz`` on PostgreSQL, naive UTC text elsewhere."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        # SQLite (and MySQL) keep no offset: store UTC wall time, so text comparisons stay right.
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def idempotency_table(
    name: str = DEFAULT_TABLE_NAME,
    *,
    schema: str | None = None,
    metadata: sa.MetaData | None = None,
) -> sa.Table:
    """The table definition `SqlStore` uses: add it to your own ``MetaData`` to migrate it."""
    return sa.Table(
        name,
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("key", sa.String(MAX_KEY_LENGTH), primary_key=True),
        sa.Column("status", sa.String(11), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(FINGERPRINT_LENGTH), nullable=False),
        sa.Column("lease_expires_at", _UtcDateTime(), nullable=False),
        sa.Column("completed_at", _UtcDateTime(), nullable=True),
        schema=schema,
    )


class SqlStore:
    """Idempotency keys in a SQL table, through SQLAlchemy 2 Core.

    - **SQLite** (``sqlite:///path.db``): the embedded default for one machine. The file is put
      in WAL mode and connections wait up to ``busy_timeout`` for a lock, so threads and processes
      on the machine can share it.
    - **PostgreSQL** (``postgresql+psycopg://…``, ``pip install "idwise-events[postgres]"``): the
      production choice, and the shared store when the app runs on several machines.
    - **Any other dialect** SQLAlchemy supports, through a portable path (primary-key conflict,
      then a conditional UPDATE).

    On SQLite and PostgreSQL a claim is one ``INSERT … ON CONFLICT DO UPDATE … WHERE lease
    expired … RETURNING`` statement and a completion one ``UPDATE``, each committed on its own.
    The table is created on first use (or call `create_table`); leases are compared with the
    app's clock, so machines sharing a database need synchronised clocks (NTP is plenty: leases
    last minutes). Every database failure raises [`StoreError`][idwise_events.StoreError] with the
    driver's exception as its cause, within ``network_timeout`` whatever the network does. A
    connection found dead drops every connection pooled with it, and the call is retried once on
    a fresh one, so the first call after a database restart succeeds.

    Any text is a valid key or fingerprint: what a database might refuse (too long, NUL, not
    ASCII) is stored as its SHA-256 digest, the same way on every database. A value the database
    still refuses is a `ValueError`, not an outage; so is a lease of zero or less, or over a day.

    Args:
        url_or_engine: A database URL, or an existing SQLAlchemy ``Engine`` (used as it is; create
            it with ``isolation_level="AUTOCOMMIT"`` to save a round trip per statement).
        table_name: The table to use; one table can serve several apps only if their event ids
            cannot collide.
        schema: The schema of the table, where the database has schemas.
        retention: How long completed keys are remembered; `purge` forgets older ones.
        busy_timeout: SQLite only (for an engine this store creates): how long to wait for a
            lock held by another connection before failing with `StoreError`.
        network_timeout: PostgreSQL (a database server reached through psycopg or psycopg2):
            the longest a call waits for the server's answer. A call still waiting then (a
            frozen network, a failover, a hung pooler) has its connection cut and raises
            `StoreError`, and the other pooled connections are dropped. For an engine this
            store creates it is also libpq's ``tcp_user_timeout``, and connecting waits
            ``connect_timeout``: 5 seconds, or this if shorter (whole seconds, at least 2). A
            value of either in the URL (``?connect_timeout=3``) wins. A call that must connect
            first so fails within ``connect_timeout`` plus ``network_timeout``.
        clock: Returns the current time, timezone-aware; inject one in tests.

    Raises:
        ValueError: If ``network_timeout`` is not positive, or the URL is an in-memory SQLite
            database (private to one connection, so no use to several workers).
    """

    blocking = True
    """Calls wait on the database: async code runs them in a worker thread."""

    def __init__(
        self,
        url_or_engine: str | sa.Engine,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        schema: str | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        busy_timeout: timedelta = timedelta(seconds=5),
        network_timeout: timedelta = timedelta(seconds=10),
        clock: Clock = utc_now,
    ) -> None:
        if network_timeout <= timedelta(0):
            raise ValueError(f"network_timeout must be more than zero, not {network_timeout}")
        self._owns_engine = not isinstance(url_or_engine, sa.Engine)
        self.engine: sa.Engine = (
            url_or_engine
            if isinstance(url_or_engine, sa.Engine)
            else _create_engine(url_or_engine, busy_timeout, network_timeout)
        )
        self.table: sa.Table = idempotency_table(table_name, schema=schema)
        self.retention = retention
        self._busy_timeout = busy_timeout
        self._network_timeout = network_timeout
        self._clock = clock
        self._table_ready = False
        self._table_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        dialect = self.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        # A file on this machine needs no watchdog (busy_timeout bounds its waits).
        self._watchdog = None if self._sqlite else Watchdog(network_timeout.total_seconds())
        if self._watchdog is not None and self._owns_engine:
            # The first connection of an engine runs SQLAlchemy's own queries (server version,
            # default schema...) before the store can watch it: watch them from the pool.
            sa_event.listen(self.engine, "first_connect", self._watch_first_connect, insert=True)
            sa_event.listen(self.engine, "connect", self._first_connect_done)
        self._time = time_binder(dialect)
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self._integrity_error: type[Exception] = dialect.loaded_dbapi.IntegrityError
        self._data_error: type[Exception] = dialect.loaded_dbapi.DataError
        self._build_statements(dialect)

    def __repr__(self) -> str:
        # The URL's repr hides the password.
        return f"SqlStore({self.engine.url!r}, table_name={self.table.name!r})"

    def close(self) -> None:
        """Close the pooled connections, if this store created its engine from a URL."""
        if self._owns_engine:
            self.engine.dispose()

    def create_table(self) -> None:
        """Create the table if it does not exist (done automatically on first use).

        Safe to call from several processes at once. On SQLite it also switches the database file
        to WAL mode (a lasting property of the file).
        """
        # SQLite answers "database is locked" at once, without waiting, when processes race to
        # switch a new file to WAL or to create the table: retry for as long as busy_timeout.
        deadline = time.monotonic() + self._busy_timeout.total_seconds()
        while True:
            try:
                self._create_table_once()
                break
            except sa_exc.OperationalError as exc:
                if self._sqlite and "locked" in str(exc.orig) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise StoreError(_describe(self.engine.dialect.name, exc)) from _driver_error(exc)
            except sa_exc.SQLAlchemyError as exc:
                raise StoreError(_describe(self.engine.dialect.name, exc)) from _driver_error(exc)
        self._table_ready = True

    def _create_table_once(self) -> None:
        with self.engine.connect() as conn, self._watched(conn.connection.dbapi_connection):
            if self._sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            try:
                self.table.create(conn, checkfirst=True)
                conn.commit()
            except sa_exc.DatabaseError:
                # Another process created it between our check and our CREATE: fine if it
                # exists now.
                conn.rollback()
                if not sa.inspect(conn).has_table(self.table.name, schema=self.table.schema):
                    raise

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        """See [`IdempotencyStore.claim`][idwise_events.IdempotencyStore.claim]."""
        check_lease(lease)
        now = self._clock()
        values = {
            "k": stored_key(key),
            "t": uuid.uuid4().hex,  # unique across every process and machine sharing the table
            "fp": stored_fingerprint(fingerprint),
            "expires": self._time(now + lease),
            "now": self._time(now),
        }
        result = self._run(lambda connection: self._claim(connection, values, now))
        if result.fingerprint_mismatch:
            report_fingerprint_mismatch(key)
        return result

    def complete(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.complete`][idwise_events.IdempotencyStore.complete]."""
        values = {"k": stored_key(key), "t": token, "now": self._time(self._clock())}
        # Matches on the token whatever the status, so a retry after a lost reply still says True.
        return self._run(lambda connection: self._complete.rowcount(connection, values) == 1)

    def release(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.release`][idwise_events.IdempotencyStore.release]."""
        values = {"k": stored_key(key), "t": token}
        return self._run(lambda connection: self._release.rowcount(connection, values) == 1)

    def purge(self) -> int:
        """See [`IdempotencyStore.purge`][idwise_events.IdempotencyStore.purge]."""
        values = {"cutoff": self._time(self._clock() - self.retention)}
        return self._run(lambda connection: self._purge.rowcount(connection, values))

    # -- internals -------------------------------------------------------------------------

    def _build_statements(self, dialect: sa.Dialect) -> None:
        """Compile every statement once, for this engine's dialect."""
        t = self.table
        in_progress: sa.ColumnElement[str] = sa.literal_column(f"'{_IN_PROGRESS}'")
        completed: sa.ColumnElement[str] = sa.literal_column(f"'{_COMPLETED}'")
        row = {
            "key": sa.bindparam("k"),
            "status": in_progress,
            "token": sa.bindparam("t"),
            "fingerprint": sa.bindparam("fp"),
            "lease_expires_at": sa.bindparam("expires"),
        }
        lease_expired = (t.c.status == in_progress) & (t.c.lease_expires_at <= sa.bindparam("now"))
        self._upsert: CompiledStatement | None = None
        if dialect.name in ("postgresql", "sqlite"):
            dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
            insert = dialect_insert(t).values(row)
            # A conflicting row is taken over only if its lease expired; the fingerprint of the
            # first claim is kept, and RETURNING tells us which of the two happened.
            upsert = insert.on_conflict_do_update(
                index_elements=[t.c.key],
                set_={
                    "token": insert.excluded.token,
                    "lease_expires_at": insert.excluded.lease_expires_at,
                },
                where=lease_expired,
            ).returning(t.c.token, t.c.fingerprint)
            self._upsert = CompiledStatement(upsert, dialect)
        statements: dict[str, sa.ClauseElement] = {
            "insert": sa.insert(t).values(row),
            "take_over": sa.update(t)
            .where(t.c.key == sa.bindparam("k"), lease_expired)
            .values(token=sa.bindparam("t"), lease_expires_at=sa.bindparam("expires")),
            "lookup": sa.select(t.c.status, t.c.lease_expires_at, t.c.fingerprint).where(
                t.c.key == sa.bindparam("k")
            ),
            "complete": sa.update(t)
            .where(t.c.key == sa.bindparam("k"), t.c.token == sa.bindparam("t"))
            .values(status=completed, completed_at=sa.bindparam("now")),
            "release": sa.delete(t).where(
                t.c.key == sa.bindparam("k"),
                t.c.token == sa.bindparam("t"),
                t.c.status == in_progress,
            ),
            "purge": sa.delete(t).where(
                ((t.c.status == completed) & (t.c.completed_at < sa.bindparam("cutoff")))
                | ((t.c.status == in_progress) & (t.c.lease_expires_at < sa.bindparam("cutoff")))
            ),
        }
        compiled = {name: CompiledStatement(stmt, dialect) for name, stmt in statements.items()}
        self._insert, self._take_over = compiled["insert"], compiled["take_over"]
        self._lookup, self._complete = compiled["lookup"], compiled["complete"]
        self._release, self._purge = compiled["release"], compiled["purge"]

    def _claim(self, connection: Any, values: dict[str, Any], now: datetime) -> ClaimResult:
        for _ in range(3):  # a claim released between our statements is simply claimed again
            if self._upsert is not None:
                rows = self._upsert.rows(connection, values)
                if rows:
                    return Claimed(values["t"], fingerprint_mismatch=rows[0][1] != values["fp"])
            else:
                claimed = self._claim_portably(connection, values)
                if claimed is not None:
                    return claimed
            existing = self._lookup.rows(connection, values)
            if existing:
                status, lease_expires_at, fingerprint = existing[0]
                mismatch = fingerprint != values["fp"]
                if status == _COMPLETED:
                    return Completed(mismatch)
                return InProgress(retry_after(read_time(lease_expires_at), now), mismatch)
        return InProgress(retry_after(now, now))

    def _claim_portably(self, connection: Any, values: dict[str, Any]) -> Claimed | None:
        """Any dialect: insert, and on a primary-key conflict take over an expired lease."""
        try:
            self._insert.rowcount(connection, values)
            connection.commit()
        except self._integrity_error:
            connection.rollback()
            if self._take_over.rowcount(connection, values) != 1:
                return None
            existing = self._lookup.rows(connection, values)
            mismatch = bool(existing) and existing[0][2] != values["fp"]
            return Claimed(values["t"], fingerprint_mismatch=mismatch)
        return Claimed(values["t"])

    def _in_transaction(self, connection: Any, operation: Callable[[Any], _T]) -> _T:
        """Run ``operation`` so that it commits, and leaves nothing open if it fails."""
        if self._sqlite:
            # Take SQLite's write lock up front (waiting up to busy_timeout for it). A statement's
            # own implicit transaction would start as a read and fail at once, without waiting,
            # if another process wrote in between.
            connection.cursor().execute("BEGIN IMMEDIATE")
        try:
            result = operation(connection)
            if self._sqlite or not self._owns_engine:  # ours are otherwise autocommit
                connection.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is the one to report
                connection.rollback()
            raise
        return result

    def _run(self, operation: Callable[[Any], _T]) -> _T:
        """Run one operation on a pooled connection; every database failure becomes StoreError.

        A connection found dead (the database restarted, the network failed) is dropped with
        every other connection pooled with it, and the operation is retried once on a fresh one.
        A call still waiting after ``network_timeout`` has its connection cut by the watchdog and
        fails without a retry: the database did not answer, another wait would not help.
        """
        if not self._table_ready:
            with self._table_lock:
                if not self._table_ready:
                    self.create_table()
        watchdog = self._watchdog
        for attempt in (1, 2):
            pool = self.engine.pool
            connection = None
            overran = False
            try:
                connection = self.engine.raw_connection()
                ticket = None if watchdog is None else watchdog.watch(connection.dbapi_connection)
                try:
                    result = self._in_transaction(connection, operation)
                finally:
                    overran = (
                        watchdog is not None and ticket is not None and not watchdog.done(ticket)
                    )
                if overran:  # answered just as it was cut: the result stands, the connection not
                    connection.invalidate()
                return result
            except self._data_error as exc:
                # The database answered: it refused a value. Retrying cannot help, and it is no
                # outage (StoreError would make the app answer 503 for ever): report it as the
                # bad value it is. Keys and fingerprints are stored so that it cannot happen.
                raise ValueError(
                    f"the {self.engine.dialect.name} idempotency store refused a value of this"
                    f" call ({type(exc).__name__})"
                ) from exc
            except self._dbapi_error as exc:
                dead = overran or (
                    connection is not None
                    and self.engine.dialect.is_disconnect(
                        cast("DBAPIModule.Error", exc), connection.dbapi_connection, None
                    )
                )
                if dead and connection is not None:
                    connection.invalidate(exc)
                    self._drop_pool(pool)
                if overran:
                    raise StoreError(
                        f"{self.engine.dialect.name} idempotency store did not answer within"
                        f" {self._network_timeout.total_seconds():g} s"
                    ) from exc
                if dead and attempt == 1:
                    continue  # the database restarted, or the network failed, since it was pooled
                raise StoreError(_describe(self.engine.dialect.name, exc)) from exc
            except sa_exc.SQLAlchemyError as exc:  # raised while connecting
                raise StoreError(_describe(self.engine.dialect.name, exc)) from _driver_error(exc)
            finally:
                if connection is not None:
                    connection.close()  # back to the pool (rolled back if still open)
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop_pool(self, pool: sa.Pool) -> None:
        """Drop every pooled connection of ``pool``: when one died, the others died with it.

        Retrying on the next pooled connection would only find another dead one (a restart
        kills them all), so the engine gets a new, empty pool, once, however many calls notice.
        """
        with self._pool_lock:
            if self.engine.pool is pool:
                self.engine.dispose()

    @contextlib.contextmanager
    def _watched(self, dbapi_connection: Any) -> Iterator[None]:
        """Let the watchdog cut ``dbapi_connection`` if the block overruns ``network_timeout``."""
        if self._watchdog is None:
            yield
            return
        ticket = self._watchdog.watch(dbapi_connection)
        try:
            yield
        finally:
            self._watchdog.done(ticket)

    def _watch_first_connect(self, dbapi_connection: Any, record: Any) -> None:
        if self._watchdog is not None:
            record.info[_FIRST_CONNECT_TICKET] = self._watchdog.watch(dbapi_connection)

    def _first_connect_done(self, dbapi_connection: Any, record: Any) -> None:
        ticket = record.info.pop(_FIRST_CONNECT_TICKET, None)
        if self._watchdog is not None and ticket is not None:
            self._watchdog.done(ticket)


def _create_engine(url: str, busy_timeout: timedelta, network_timeout: timedelta) -> sa.Engine:
    parsed = sa.make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise ValueError(
                "an in-memory SQLite database is private to one connection, so it cannot hold"
                " claims for several workers: use MemoryStore, or a file (sqlite:///events.db)"
            )
        connect_args["timeout"] = busy_timeout.total_seconds()
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS:
        # libpq's own limits, all on the client side (so poolers such as PgBouncer take them):
        # fail fast (StoreError, then 503) when the server is unreachable, and let the kernel
        # drop a connection whose peer vanished, idle or not (keepalives also keep NAT entries
        # alive). The watchdog covers what they cannot see. A value in the URL wins.
        seconds = network_timeout.total_seconds()
        limits = {
            # Whole seconds; libpq takes 2 for anything less.
            "connect_timeout": max(2, min(_CONNECT_TIMEOUT, math.ceil(seconds))),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": round(seconds * 1000),
        }
        connect_args.update(
            (name, value) for name, value in limits.items() if name not in parsed.query
        )
    # Every operation is one statement, committed on its own: in autocommit there is neither a
    # transaction to commit after it nor one to roll back when the connection goes back to the pool.
    return sa.create_engine(
        parsed,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        connect_args=connect_args,
    )


def _driver_error(exc: sa_exc.SQLAlchemyError) -> BaseException:
    """The driver's own exception inside SQLAlchemy's wrapper, so every StoreError has one kind."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def _describe(dialect: str, exc: Exception) -> str:
    """Name the failure without the driver's message, which may quote connection details."""
    cause = getattr(exc, "orig", None) or exc
    return f"{dialect} idempotency store unavailable ({type(cause).__name__})"
