"""`SqlInbox`: the durable inbox on SQLAlchemy 2 Core, for SQLite or PostgreSQL.

```python
from idwise_events.inbox.sql import SqlInbox

inbox = SqlInbox("sqlite:///idwise-events.db")                        # embedded, one machine
inbox = SqlInbox("postgresql+psycopg://app@db.internal/app")          # shared by many machines
inbox = SqlInbox(store.engine)                                        # a SqlStore's connections
```
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

try:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import postgresql, sqlite
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.inbox.sql needs SQLAlchemy: pip install "idwise-events[sql]"'
        ' (add "postgres" for the PostgreSQL driver)'
    ) from _missing

from .._errors import StoreError
from .._inbox import (
    LAPSED_ERROR,
    MAX_LABEL_LENGTH,
    TAKE_RECORDED,
    Accepted,
    Delivery,
    DeliveryState,
    Taken,
    log_replay,
    stored_error,
    stored_label,
)
from .._store import Clock, check_lease, utc_now

# The engine-creating helper and the error mapping of SqlStore, shared so that both behave alike.
from ..stores._engine import (
    create_engine,
    describe,
    driver_error,
    new_pool_after_fork,
    shown_url,
)
from ..stores._keys import FINGERPRINT_LENGTH, MAX_KEY_LENGTH, stored_fingerprint, stored_key
from ..stores._table import UtcDateTime, checked_table_name
from ..stores._unsure import UnsureClaims
from ..stores._watchdog import PURGE_LIMIT, Watchdog

__all__ = ["DEFAULT_INBOX_TABLE_NAME", "SqlInbox", "inbox_table"]

DEFAULT_INBOX_TABLE_NAME = "idwise_events_inbox"
"""The table `SqlInbox` uses unless told otherwise."""

_T = TypeVar("_T")
_PENDING, _PROCESSING, _DONE, _DEAD = (state.value for state in DeliveryState)


def inbox_table(
    name: str = DEFAULT_INBOX_TABLE_NAME,
    *,
    schema: str | None = None,
    metadata: sa.MetaData | None = None,
) -> sa.Table:
    """The table definition `SqlInbox` uses: add it to your own ``MetaData`` to migrate it.

    ``inbox_table(metadata=Base.metadata)`` in your models module, for Alembic's autogenerate
    to see it.

    Raises:
        TypeError: If ``name`` is not a string (a ``MetaData`` given first, say).
    """
    return sa.Table(
        checked_table_name(name, "inbox_table"),
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("key", sa.String(MAX_KEY_LENGTH), nullable=False),
        sa.Column("event_type", sa.String(MAX_LABEL_LENGTH), nullable=False),
        sa.Column("event_id", sa.String(MAX_LABEL_LENGTH), nullable=True),
        sa.Column("fingerprint", sa.String(FINGERPRINT_LENGTH), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
        sa.Column("token", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.UniqueConstraint("key", name=f"{name}_key"),
        # The sweep's and the embedded worker's scan, and the purge's.
        sa.Index(f"{name}_due", "state", "next_attempt_at"),
        sa.Index(f"{name}_finished", "state", "finished_at"),
        schema=schema,
        # SQLite would otherwise give the newest row's id again once it is purged; a job, a log
        # line or a replay naming the old id must never mean another delivery.
        sqlite_autoincrement=True,
    )


class SqlInbox:
    """An [`Inbox`][idwise_events.Inbox] in a SQL table, through SQLAlchemy 2 Core.

    - **SQLite** (``sqlite:///idwise-events.db``): the embedded default, for one machine, with
      the [embedded worker](../inbox.md#the-embedded-worker).
    - **PostgreSQL** (``postgresql+psycopg://…``): for several machines, with Celery or the
      PostgreSQL queue doing the processing.

    Every method is one atomic statement: taking a delivery is a single conditional ``UPDATE …
    RETURNING``, so two workers never both hold it. The table is created on first use (or call
    `create_table`). Times are compared with the app's clock, as `SqlStore` does (machines need
    synchronised clocks). Every database failure raises [`StoreError`][idwise_events.StoreError]
    with the driver's exception as its cause, within ``network_timeout`` on PostgreSQL; a
    connection found dead is replaced and the call tried once more.

    Args:
        url_or_engine: A database URL, or an existing SQLAlchemy ``Engine`` (such as a
            `SqlStore`'s ``engine``, to share its connection pool).
        table_name: The table to use.
        schema: The schema of the table, where the database has schemas.
        pool_size: For an engine this inbox creates: how many connections the pool keeps open.
        busy_timeout: SQLite only (for an engine this inbox creates): how long to wait for a lock.
        network_timeout: PostgreSQL: the longest a call waits for the server's answer (see
            [`SqlStore`][idwise_events.stores.sql.SqlStore]).
        clock: Returns the current time, timezone-aware; inject one in tests.

    Raises:
        ValueError: If ``network_timeout`` or ``pool_size`` is not positive, or the URL is an
            in-memory SQLite database.
    """

    blocking = True
    """True: calls wait on the database, so async code runs them in a worker thread."""

    def __init__(
        self,
        url_or_engine: str | sa.Engine,
        *,
        table_name: str = DEFAULT_INBOX_TABLE_NAME,
        schema: str | None = None,
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
        # The same pool, each statement committing on its own (see `_run`).
        new_pool_after_fork(self.engine)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.table: sa.Table = inbox_table(table_name, schema=schema)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._network_timeout = network_timeout
        self._dialect = self.engine.dialect.name
        self._sqlite = self._dialect == "sqlite"
        self._data_error: type[Exception] = self.engine.dialect.loaded_dbapi.DataError
        self._watchdog = None if self._sqlite else Watchdog(network_timeout.total_seconds())
        self._table_ready = False
        self._table_lock = threading.Lock()
        # Takes that PostgreSQL may record after their answer was lost: given back when it can.
        self._unsure = UnsureClaims(self._give_back_unsure, recorded=TAKE_RECORDED)

    def __repr__(self) -> str:
        return f"SqlInbox({shown_url(self.engine)}, table_name={self.table.name!r})"

    def close(self) -> None:
        """Close the connections, if this inbox created its engine from a URL."""
        self._unsure.close()
        if self._owns_engine:
            self.engine.dispose()

    def create_table(self) -> None:
        """Create the table and its indexes if they do not exist (done automatically on first use).

        Safe to call from several processes at once. On SQLite it also switches the database
        file to WAL mode, so that the HTTP side and the worker do not block each other's reads.
        """
        deadline = time.monotonic() + self._busy_timeout.total_seconds()
        while True:
            try:
                with self.engine.connect() as conn, self._watched(conn):
                    if self._sqlite:
                        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                    try:
                        self.table.create(conn, checkfirst=True)
                        conn.commit()
                    except sa_exc.DatabaseError:
                        # Another process created it between our check and our CREATE.
                        conn.rollback()
                        if not sa.inspect(conn).has_table(self.table.name, self.table.schema):
                            raise
                break
            except sa_exc.OperationalError as exc:
                if self._sqlite and "locked" in str(exc.orig) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise StoreError(describe(self.engine, exc, "inbox")) from driver_error(exc)
            except sa_exc.SQLAlchemyError as exc:
                raise StoreError(describe(self.engine, exc, "inbox")) from driver_error(exc)
        self._table_ready = True

    def exists(self) -> bool:
        """Whether the table exists, without creating it (the CLI refuses a missing one)."""
        try:
            with self.engine.connect() as conn, self._watched(conn):
                return sa.inspect(conn).has_table(self.table.name, self.table.schema)
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(describe(self.engine, exc, "inbox")) from driver_error(exc)

    # -- the Inbox protocol ---------------------------------------------------------------------

    def accept(
        self, *, key: str, event_type: str, event_id: str | None, fingerprint: str, body: bytes
    ) -> Accepted:
        """See [`Inbox.accept`][idwise_events.Inbox.accept]."""
        t = self.table
        stored = stored_key(key)
        stored_print = stored_fingerprint(fingerprint)
        now = self._clock()
        row = {
            "key": stored,
            "event_type": stored_label(event_type),
            "event_id": None if event_id is None else stored_label(event_id),
            "fingerprint": stored_print,
            "body": bytes(body),
            "received_at": now,
            "state": _PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "replays": 0,
            # Marks this call's insert (a take replaces it): see the lookup below.
            "token": uuid.uuid4().hex,
        }
        lookup = sa.select(t.c.id, t.c.fingerprint, t.c.token).where(t.c.key == stored)

        def accept(conn: sa.Connection) -> Accepted | None:
            statement = self._insert_if_absent
            if statement is not None:
                inserted = conn.execute(statement, row).all()
                if inserted:
                    return Accepted(inserted[0][0], duplicate=False)
            else:
                try:
                    with conn.begin_nested():
                        result = conn.execute(sa.insert(t).values(row))
                    new_id = cast(sa.Row[Any], result.inserted_primary_key)[0]
                    return Accepted(new_id, duplicate=False)
                except sa_exc.IntegrityError:
                    pass
            existing = conn.execute(lookup).all()
            if not existing:
                return None  # purged between the two statements: insert again
            found, first_print, marker = existing[0]
            if marker == row["token"]:
                # This call's own insert: it committed, then its connection died before the
                # answer, and `_run` tried again on a fresh one. Not a duplicate: its job is
                # still to be enqueued.
                return Accepted(found, duplicate=False)
            return Accepted(found, duplicate=True, fingerprint_mismatch=first_print != stored_print)

        for _ in range(3):
            # Each statement is atomic alone: the insert-if-absent, then a lookup of a duplicate.
            # (Where the dialect has no insert-if-absent, the fallback needs a savepoint.)
            accepted = self._run(accept, autocommit=self._insert_if_absent is not None)
            if accepted is not None:
                return accepted
        raise StoreError(f"{self._dialect} inbox: the key was purged and re-added while accepting")

    def take(self, delivery_id: int, *, lease: timedelta) -> Taken | None:
        """See [`Inbox.take`][idwise_events.Inbox.take]."""
        check_lease(lease)
        t = self.table
        now = self._clock()
        token = uuid.uuid4().hex
        due = ((t.c.state == _PENDING) & (t.c.next_attempt_at <= now)) | (
            (t.c.state == _PROCESSING) & (t.c.lease_expires_at <= now)
        )
        update = (
            sa.update(t)
            .where(t.c.id == delivery_id, due)
            .values(
                state=_PROCESSING,
                token=token,
                attempts=t.c.attempts + 1,
                lease_expires_at=now + lease,
                # (the row's values before the update: a lapsed lease is taken over)
                last_error=sa.case((t.c.state == _PROCESSING, LAPSED_ERROR), else_=t.c.last_error),
            )
        )

        # The token is new: the row it marks is the one this call took. Read when the update
        # returns nothing, it is the take of this call's first try, whose answer was lost (its
        # connection died, and `_run` tried again on a fresh one).
        taken_here = sa.select(t).where(
            t.c.id == delivery_id, t.c.token == token, t.c.state == _PROCESSING
        )

        def take(conn: sa.Connection) -> Taken | None:
            if self.engine.dialect.update_returning:
                rows = conn.execute(update.returning(*t.c)).all()
            else:
                conn.execute(update)
                rows = []
            rows = rows or conn.execute(taken_here).all()
            return Taken(_delivery(rows[0]), token) if rows else None

        self._unsure.settle(str(delivery_id))
        try:
            return self._run(take)
        except StoreError:
            if not self._sqlite:  # (SQLite is on this machine: a failed statement did not run)
                # No answer is not no take: the server may record it still (see `_unsure`).
                self._unsure.add(str(delivery_id), token, lease.total_seconds())
            raise

    def _give_back_unsure(self, delivery_id: str, token: str) -> bool:
        """Give back a take recorded after its answer was lost, its attempt not counted."""
        return self._update_held(
            int(delivery_id),
            token,
            state=_PENDING,
            next_attempt_at=self._clock(),
            lease_expires_at=None,
            attempts=self.table.c.attempts - 1,
        )

    def renew(self, delivery_id: int, token: str, *, lease: timedelta) -> bool:
        """See [`Inbox.renew`][idwise_events.Inbox.renew]."""
        check_lease(lease)
        return self._update_held(delivery_id, token, lease_expires_at=self._clock() + lease)

    def complete(self, delivery_id: int, token: str) -> bool:
        """See [`Inbox.complete`][idwise_events.Inbox.complete]."""
        return self._record_outcome(
            delivery_id,
            token,
            state=_DONE,
            next_attempt_at=None,
            lease_expires_at=None,
            finished_at=self._clock(),
        )

    def retry(
        self, delivery_id: int, token: str, *, at: datetime, error: str, counted: bool = True
    ) -> bool:
        """See [`Inbox.retry`][idwise_events.Inbox.retry]."""
        return stored_error(
            lambda last_error: self._record_outcome(
                delivery_id,
                token,
                state=_PENDING,
                next_attempt_at=at,
                lease_expires_at=None,
                last_error=last_error,
                **({} if counted else {"attempts": self.table.c.attempts - 1}),
            ),
            error,
        )

    def bury(self, delivery_id: int, token: str, *, error: str) -> bool:
        """See [`Inbox.bury`][idwise_events.Inbox.bury]."""
        return stored_error(
            lambda last_error: self._record_outcome(
                delivery_id,
                token,
                state=_DEAD,
                next_attempt_at=None,
                lease_expires_at=None,
                finished_at=self._clock(),
                last_error=last_error,
            ),
            error,
        )

    def due(self, *, older_than: timedelta, limit: int) -> list[int]:
        """See [`Inbox.due`][idwise_events.Inbox.due]."""
        t = self.table
        now = self._clock()
        query = (
            sa.select(t.c.id)
            .where(
                ((t.c.state == _PENDING) & (t.c.next_attempt_at <= now - older_than))
                | ((t.c.state == _PROCESSING) & (t.c.lease_expires_at <= now))
            )
            .order_by(t.c.id)
            .limit(limit)
        )
        return self._run(lambda conn: [row[0] for row in conn.execute(query)])

    def replay(self, delivery_id: int) -> bool:
        """See [`Inbox.replay`][idwise_events.Inbox.replay]."""
        t = self.table
        update = (
            sa.update(t)
            .where(t.c.id == delivery_id, t.c.state.in_([_DONE, _DEAD]))
            .values(
                state=_PENDING,
                attempts=0,
                next_attempt_at=self._clock(),
                finished_at=None,
                replays=t.c.replays + 1,
                token=None,  # its last holder's outcomes are over: none says True again
            )
        )
        replayed = self._run(lambda conn: conn.execute(update).rowcount == 1)
        if replayed:
            log_replay(delivery_id)
        return replayed

    def get(self, delivery_id: int) -> Delivery | None:
        """See [`Inbox.get`][idwise_events.Inbox.get]."""
        query = sa.select(self.table).where(self.table.c.id == delivery_id)
        rows = self._run(lambda conn: conn.execute(query).all())
        return _delivery(rows[0]) if rows else None

    def deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
        event_id: str | None = None,
    ) -> list[Delivery]:
        """See [`Inbox.deliveries`][idwise_events.Inbox.deliveries]."""
        t = self.table
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(t.c.state == DeliveryState(state).value)
        if event_type is not None:
            query = query.where(t.c.event_type == stored_label(event_type))
        if since is not None:
            query = query.where(t.c.received_at >= since)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        if event_id is not None:
            query = query.where(t.c.event_id == stored_label(event_id))
        return [_delivery(row) for row in self._run(lambda conn: conn.execute(query).all())]

    def stats(self) -> dict[DeliveryState, int]:
        """See [`Inbox.stats`][idwise_events.Inbox.stats]."""
        t = self.table
        query = sa.select(t.c.state, sa.func.count()).group_by(t.c.state)
        counts = dict.fromkeys(DeliveryState, 0)
        for state, count in self._run(lambda conn: conn.execute(query).all()):
            counts[DeliveryState(state)] = count
        return counts

    def purge(self, *, older_than: timedelta, dead: bool = False) -> int:
        """See [`Inbox.purge`][idwise_events.Inbox.purge]."""
        t = self.table
        states = [_DONE, _DEAD] if dead else [_DONE]
        delete = sa.delete(t).where(
            t.c.state.in_(states), t.c.finished_at < self._clock() - older_than
        )
        return self._run(lambda conn: conn.execute(delete).rowcount, limit=PURGE_LIMIT)

    # -- internals ------------------------------------------------------------------------------

    @functools.cached_property
    def _insert_if_absent(self) -> sa.Executable | None:
        """``INSERT … ON CONFLICT DO NOTHING RETURNING id``, where the dialect has it.

        Built once: the row comes as the execution's parameters, so a delivery costs no
        statement construction.
        """
        t = self.table
        if self._dialect == "postgresql":
            pg = postgresql.insert(t)
            return pg.on_conflict_do_nothing(index_elements=[t.c.key]).returning(t.c.id)
        if self._dialect == "sqlite":
            lite = sqlite.insert(t)
            return lite.on_conflict_do_nothing(index_elements=[t.c.key]).returning(t.c.id)
        return None

    def _held(self, delivery_id: int, token: str, **values: Any) -> sa.Update:
        """One fenced update: only while ``token`` holds the delivery (processing)."""
        t = self.table
        where = (t.c.id == delivery_id, t.c.token == token, t.c.state == _PROCESSING)
        return sa.update(t).where(*where).values(**values)

    def _update_held(self, delivery_id: int, token: str, **values: Any) -> bool:
        """Run `_held`'s update: True if it changed the delivery."""
        update = self._held(delivery_id, token, **values)
        return self._run(lambda conn: conn.execute(update).rowcount == 1)

    def _record_outcome(self, delivery_id: int, token: str, **values: Any) -> bool:
        """`_update_held` for an outcome, which an earlier try may have recorded already.

        That try committed, then its connection died before the answer (`_run` tried again on
        a fresh one), or the worker tries again after a `StoreError`: the delivery in the
        outcome's state under ``token`` is then this outcome recorded, not a lease lost.
        """
        t = self.table
        update = self._held(delivery_id, token, **values)
        recorded = sa.select(t.c.id).where(
            t.c.id == delivery_id, t.c.token == token, t.c.state == values["state"]
        )

        def record(conn: sa.Connection) -> bool:
            return conn.execute(update).rowcount == 1 or bool(conn.execute(recorded).all())

        return self._run(record)

    def _run(
        self,
        operation: Callable[[sa.Connection], _T],
        *,
        autocommit: bool = False,
        limit: float | None = None,
    ) -> _T:
        """Run one operation in a transaction; every database failure becomes StoreError.

        ``autocommit``: each statement commits on its own, for an operation whose statements are
        each atomic by themselves (no BEGIN and COMMIT round trips).

        A connection found dead (the database restarted) is replaced and the operation tried once
        more, as `SqlStore` does; one the watchdog cut for overrunning ``network_timeout`` is not.
        """
        if not self._table_ready:
            with self._table_lock:
                if not self._table_ready:
                    self.create_table()
        for attempt in (1, 2):
            overran: list[bool] = []
            try:
                if autocommit:
                    with self._autocommit.connect() as conn, self._watched(conn, overran, limit):
                        return operation(conn)
                # The COMMIT watched too; a connection that overran is invalidated after it.
                with (
                    self.engine.connect() as conn,
                    self._watched(conn, overran, limit),
                    conn.begin(),
                ):
                    return operation(conn)
            except sa_exc.DBAPIError as exc:
                error = driver_error(exc)
                if isinstance(error, self._data_error):
                    raise ValueError(
                        f"the {self._dialect} inbox refused a value of this call"
                        f" ({type(error).__name__})"
                    ) from error
                if overran:
                    raise self._overran(limit) from error
                if not (exc.connection_invalidated and attempt == 1):
                    raise StoreError(describe(self.engine, exc, "inbox")) from error
            except sa_exc.SQLAlchemyError as exc:
                if overran:
                    raise self._overran(limit) from driver_error(exc)
                raise StoreError(describe(self.engine, exc, "inbox")) from driver_error(exc)
            except OverflowError as exc:  # sqlite3 binding an integer past 64 bits, such as an id
                raise ValueError(
                    f"the {self._dialect} inbox refused a value of this call (OverflowError)"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _overran(self, limit: float | None) -> StoreError:
        waited = self._network_timeout.total_seconds() if limit is None else limit
        return StoreError(f"{self._dialect} inbox did not answer within {waited:g} s")

    @contextlib.contextmanager
    def _watched(
        self, conn: sa.Connection, overran: list[bool] | None = None, limit: float | None = None
    ) -> Iterator[None]:
        """Let the watchdog cut the connection if the block overruns ``network_timeout``.

        (Or ``limit`` seconds.) A connection cut, or about to be, is never used again, even if
        its call ended well.
        """
        if self._watchdog is None:
            yield
            return
        ticket = self._watchdog.watch(conn.connection.dbapi_connection, limit)
        try:
            yield
        finally:
            if not self._watchdog.done(ticket):
                conn.invalidate()
                if overran is not None:
                    overran.append(True)


def _delivery(row: sa.Row[Any]) -> Delivery:
    values = row._mapping
    return Delivery(
        id=values["id"],
        key=values["key"],
        event_type=values["event_type"],
        event_id=values["event_id"],
        fingerprint=values["fingerprint"],
        body=bytes(values["body"]),
        received_at=values["received_at"],
        state=DeliveryState(values["state"]),
        attempts=values["attempts"],
        next_attempt_at=values["next_attempt_at"],
        lease_expires_at=values["lease_expires_at"],
        last_error=values["last_error"],
        finished_at=values["finished_at"],
        replays=values["replays"],
    )
