"""`SqlStore`: the idempotency store on SQLAlchemy 2 Core, for SQLite, PostgreSQL or any dialect.

```python
from idwise_events.stores.sql import SqlStore

store = SqlStore("sqlite:///idwise-events.db")                        # embedded, one machine
store = SqlStore("postgresql+psycopg://app@db.internal/app")          # shared by many machines
```
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIModule

try:
    import sqlalchemy as sa
    from sqlalchemy import event as sa_event
    from sqlalchemy import exc as sa_exc
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.stores.sql needs SQLAlchemy: pip install "idwise-events[sql]"'
        ' (add "postgres" for the PostgreSQL driver)'
    ) from _missing

from .._errors import StoreError
from .._store import (
    DEFAULT_RETENTION,
    Claimed,
    ClaimResult,
    Clock,
    Completed,
    InProgress,
    check_lease,
    check_retention,
    report_fingerprint_mismatch,
    retry_after,
    utc_now,
)
from ._engine import (
    create_engine,
    describe,
    driver_error,
    driver_sql,
    new_pool_after_fork,
    shown_url,
)
from ._keys import stored_fingerprint, stored_key
from ._session import Connections, Session
from ._table import COMPLETED, DEFAULT_TABLE_NAME, build_statements, from_stored, idempotency_table
from ._unsure import UnsureClaims
from ._watchdog import PURGE_LIMIT, Watchdog

__all__ = ["DEFAULT_TABLE_NAME", "SqlStore", "idempotency_table"]

_FIRST_CONNECT_TICKET = "idwise_events.watchdog_ticket"
_T = TypeVar("_T")


class SqlStore:
    """Idempotency keys in a SQL table, through SQLAlchemy 2 Core.

    - **SQLite** (``sqlite:///path.db``): the embedded default for one machine. The file is put
      in WAL mode and connections wait up to ``busy_timeout`` for a lock, so threads and processes
      on the machine can share it.
    - **PostgreSQL** (``postgresql+psycopg://…``, ``pip install "idwise-events[postgres]"``): the
      production choice, and the shared store when the app runs on several machines.
    - **Any other dialect** SQLAlchemy supports, through a portable path (primary-key conflict,
      then a conditional UPDATE).

    On SQLite and PostgreSQL (`UPSERT_DIALECTS`) a claim is one ``INSERT … ON CONFLICT DO
    UPDATE … WHERE lease expired … RETURNING`` statement; a completion, and a renewal, one
    ``UPDATE`` fenced by the token; each committed on its own. Everything runs through
    SQLAlchemy's public Core API.
    The table is created on first use (or call `create_table`); leases are compared with the
    app's clock, so machines sharing a database need synchronised clocks (NTP is plenty: leases
    last minutes). Every database failure raises [`StoreError`][idwise_events.StoreError] with the
    driver's exception as its cause, within ``network_timeout`` whatever the network does. A
    connection found dead drops every connection pooled with it, and the call is retried once on
    a fresh one, so the first call after a database restart succeeds. A claim that failed so may
    still be recorded by the database once it resumes: the store releases it, with its token,
    as soon as the database answers again, so the event's next delivery is not refused for the
    rest of that claim's lease.

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
        pool_size: For an engine this store creates: how many connections the pool keeps open.
            Size it for the threads that call the store at once: a thread-pooled web server's
            threads, or the worker threads `Dispatcher.handle_async` uses (asyncio's default is
            ``min(32, cpu_count + 4)``). As many again may be opened for a burst, then closed.
        busy_timeout: SQLite only (for an engine this store creates): how long to wait for a
            lock held by another connection before failing with `StoreError`.
        network_timeout: PostgreSQL (a database server reached through psycopg or psycopg2):
            the longest a call waits for the server's answer. A call still waiting then (a
            frozen network, a failover, a hung pooler) has its statement cancelled on the
            server where the driver can (psycopg on libpq 17+, within a second more) and its
            connection cut, raises `StoreError`, and the other pooled connections are dropped.
            `purge` may take an hour. For an engine this
            store creates it is also libpq's ``tcp_user_timeout``, and connecting waits
            ``connect_timeout``: 5 seconds, or this if shorter (whole seconds, at least 2). A
            value of either in the URL (``?connect_timeout=3``) wins. A call that must connect
            first so fails within ``connect_timeout`` plus ``network_timeout``.
        clock: Returns the current time, timezone-aware; inject one in tests.

    Raises:
        ValueError: If ``network_timeout`` or ``pool_size`` is not positive, or the URL is an
            in-memory SQLite database (private to one connection, so no use to several workers).
    """

    blocking = True
    """True: calls wait on the database, so async code runs them in a worker thread."""

    UPSERT_DIALECTS: ClassVar[frozenset[str]] = frozenset({"postgresql", "sqlite"})
    """Dialects whose claim is one ``INSERT … ON CONFLICT`` statement; others insert, then take
    an expired lease over with a conditional ``UPDATE``. (A subclass may narrow it, as the tests
    do to prove the portable path on real databases.)"""

    def __init__(
        self,
        url_or_engine: str | sa.Engine,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        schema: str | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        pool_size: int = 10,
        busy_timeout: timedelta = timedelta(seconds=5),
        network_timeout: timedelta = timedelta(seconds=10),
        clock: Clock = utc_now,
    ) -> None:
        if network_timeout <= timedelta(0):
            raise ValueError(f"network_timeout must be more than zero, not {network_timeout}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self._owns_engine = not isinstance(url_or_engine, sa.Engine)
        self.engine: sa.Engine = (
            url_or_engine
            if isinstance(url_or_engine, sa.Engine)
            else create_engine(
                url_or_engine,
                pool_size=pool_size,
                busy_timeout=busy_timeout,
                network_timeout=network_timeout,
            )
        )
        new_pool_after_fork(self.engine)
        self.table: sa.Table = idempotency_table(table_name, schema=schema)
        self.retention: timedelta = check_retention(retention)
        self._busy_timeout = busy_timeout
        self._network_timeout = network_timeout
        self._clock = clock
        self._table_ready = False
        self._table_lock = threading.Lock()
        self._unsure = UnsureClaims(self.release)
        dialect = self.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        fast = dialect.name in self.UPSERT_DIALECTS
        self._statements = build_statements(
            self.table, upsert_dialect=dialect.name if fast else None
        )
        # SQLite and PostgreSQL run their statements as SQL compiled once (`exec_driver_sql`):
        # through `Connection.execute` each would cost about as much again as the bare driver.
        self._driver_sql = driver_sql(self._statements, dialect) if fast else None
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self._data_error: type[Exception] = dialect.loaded_dbapi.DataError
        # An SQLite file of our own: each thread keeps its connection to it (as SQLite apps do).
        self._connections = Connections(self.engine, per_thread=self._sqlite and self._owns_engine)
        # A file on this machine needs no watchdog (busy_timeout bounds its waits).
        self._watchdog = None if self._sqlite else Watchdog(network_timeout.total_seconds())
        if self._watchdog is not None and self._owns_engine:
            # The first connection of an engine runs SQLAlchemy's own queries (server version,
            # default schema...) before the store can watch it: watch them from the pool.
            sa_event.listen(self.engine, "first_connect", self._watch_first_connect, insert=True)
            sa_event.listen(self.engine, "connect", self._first_connect_done)

    def __repr__(self) -> str:
        return f"SqlStore({shown_url(self.engine)}, table_name={self.table.name!r})"

    def close(self) -> None:
        """Close the connections, if this store created its engine from a URL."""
        self._unsure.close()
        self._connections.close()
        if self._watchdog is not None:
            self._watchdog.close()
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
                raise StoreError(describe(self.engine, exc)) from driver_error(exc)
            except sa_exc.SQLAlchemyError as exc:
                raise StoreError(describe(self.engine, exc)) from driver_error(exc)
        self._table_ready = True

    def _create_table_once(self) -> None:
        with self.engine.connect() as conn, self._watched(conn):
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
        self._unsure.settle(key)
        now = self._clock()
        token = uuid.uuid4().hex  # unique across every machine sharing the table
        values = {
            "event_key": stored_key(key),
            "claim_token": token,
            "body_fingerprint": stored_fingerprint(fingerprint),
            "expires_at": now + lease,
            "now": now,
        }
        try:
            result = self._run(lambda session: self._claim(session, values, now))
        except StoreError:
            if not self._sqlite:  # (SQLite is on this machine: a failed statement did not run)
                # No answer is not no claim: the server may record it still (see `_unsure`).
                self._unsure.add(key, token, lease.total_seconds())
            raise
        if result.fingerprint_mismatch:
            report_fingerprint_mismatch(key)
        return result

    def complete(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.complete`][idwise_events.IdempotencyStore.complete]."""
        values = {"event_key": stored_key(key), "claim_token": token, "now": self._clock()}
        # Matches on the token whatever the status, so a retry after a lost reply still says True.
        return self._run(lambda session: session.execute("complete", values)[1] == 1)

    def release(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.release`][idwise_events.IdempotencyStore.release]."""
        values = {"event_key": stored_key(key), "claim_token": token}
        return self._run(lambda session: session.execute("release", values)[1] == 1)

    def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        """See [`IdempotencyStore.renew`][idwise_events.IdempotencyStore.renew]."""
        check_lease(lease)
        values = {
            "event_key": stored_key(key),
            "claim_token": token,
            "expires_at": self._clock() + lease,
        }
        return self._run(lambda session: session.execute("renew", values)[1] == 1)

    def purge(self) -> int:
        """See [`IdempotencyStore.purge`][idwise_events.IdempotencyStore.purge]."""
        values = {"cutoff": self._clock() - self.retention}
        return self._run(lambda session: session.execute("purge", values)[1], limit=PURGE_LIMIT)

    # -- internals -------------------------------------------------------------------------

    def _claim(self, session: Session, values: dict[str, Any], now: datetime) -> ClaimResult:
        for _ in range(3):  # a claim released between our statements is simply claimed again
            if self._statements.upsert is not None:
                rows, _count = session.execute("upsert", values)
                if rows:
                    mismatch = rows[0][1] != values["body_fingerprint"]
                    return Claimed(values["claim_token"], fingerprint_mismatch=mismatch)
            else:
                claimed = self._claim_portably(session, values)
                if claimed is not None:
                    return claimed
            rows, _count = session.execute("lookup", values)
            if rows:
                status, held_until, fingerprint, holder = rows[0]
                mismatch = fingerprint != values["body_fingerprint"]
                if status == COMPLETED:
                    return Completed(mismatch)
                if holder == values["claim_token"]:
                    # Ours: this call's first try committed, then its connection died before
                    # the answer came, and the retry on a fresh one found the claim it made.
                    return Claimed(holder, fingerprint_mismatch=mismatch)
                return InProgress(retry_after(from_stored(held_until), now), mismatch)
        return InProgress(retry_after(now, now))

    def _claim_portably(self, session: Session, values: dict[str, Any]) -> Claimed | None:
        """Any dialect: insert, and on a primary-key conflict take over an expired lease."""
        try:
            with session.savepoint():
                session.execute("insert", values)
        except sa_exc.IntegrityError:
            if session.execute("take_over", values)[1] != 1:
                return None
            rows, _count = session.execute("lookup", values)
            mismatch = bool(rows) and rows[0][2] != values["body_fingerprint"]
            return Claimed(values["claim_token"], fingerprint_mismatch=mismatch)
        return Claimed(values["claim_token"])

    def _run(self, operation: Callable[[Session], _T], *, limit: float | None = None) -> _T:
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
        dialect = self.engine.dialect
        for attempt in (1, 2):
            pool = self.engine.pool
            try:
                session = Session(self._connections, self._statements, self._driver_sql)
            except (self._dbapi_error, sa_exc.SQLAlchemyError) as exc:  # connecting failed
                raise StoreError(describe(self.engine, exc)) from driver_error(exc)
            overran = False
            try:
                if watchdog is None:
                    return session.run(operation)
                ticket = watchdog.watch(session.dbapi_connection, limit)
                try:
                    result = session.run(operation)
                finally:
                    overran = not watchdog.done(ticket)
                if overran:  # answered just as it was cut: keep the result, not the connection
                    session.invalidate(None)
                return result
            except (self._dbapi_error, sa_exc.DBAPIError) as exc:
                # The SQL this store compiles runs on the driver itself: its errors come bare.
                error: BaseException = exc
                dead = overran
                if isinstance(exc, sa_exc.DBAPIError):
                    error = exc.orig if exc.orig is not None else exc
                    dead = dead or exc.connection_invalidated
                else:
                    dead = dead or dialect.is_disconnect(
                        cast("DBAPIModule.Error", exc), session.dbapi_connection, None
                    )
                if isinstance(error, self._data_error):
                    # The database answered: it refused a value. Retrying cannot help, and it is
                    # no outage (StoreError would make the app answer 503 for ever): report it as
                    # the bad value it is. Keys and fingerprints are stored so that it cannot be.
                    raise ValueError(
                        f"the {dialect.name} idempotency store refused a value of this call"
                        f" ({type(error).__name__})"
                    ) from error
                if dead:
                    session.invalidate(error)
                    self._connections.drop_pool(pool)
                if overran:
                    waited = self._network_timeout.total_seconds() if limit is None else limit
                    raise StoreError(
                        f"{dialect.name} idempotency store did not answer within {waited:g} s"
                    ) from error
                if not (dead and attempt == 1):
                    raise StoreError(describe(self.engine, exc)) from error
                # The database restarted, or the network failed, since it was pooled: retry.
            except sa_exc.SQLAlchemyError as exc:
                raise StoreError(describe(self.engine, exc)) from driver_error(exc)
            finally:
                session.close()  # back to the pool (rolled back if still open)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _watched(self, conn: sa.Connection) -> Iterator[None]:
        """Let the watchdog cut ``conn`` if the block overruns ``network_timeout``.

        A connection cut (or about to be) is never used again, even if its call ended well.
        """
        if self._watchdog is None:
            yield
            return
        ticket = self._watchdog.watch(conn.connection.dbapi_connection)
        try:
            yield
        finally:
            if not self._watchdog.done(ticket):
                conn.invalidate()

    def _watch_first_connect(self, dbapi_connection: Any, record: Any) -> None:
        if self._watchdog is not None:
            record.info[_FIRST_CONNECT_TICKET] = self._watchdog.watch(dbapi_connection)

    def _first_connect_done(self, dbapi_connection: Any, record: Any) -> None:
        ticket = record.info.pop(_FIRST_CONNECT_TICKET, None)
        if self._watchdog is not None and ticket is not None:
            self._watchdog.done(ticket)
