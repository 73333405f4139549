"""Where each `SqlStore` call gets its connection, and runs its statements on it."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa

from ._table import Statements, to_stored

__all__: list[str] = []

_T = TypeVar("_T")


class Connections:
    """The DB-API connections of one store: from the engine's pool, or one per thread.

    An SQLite file the store opened itself (``per_thread``) gets one connection per thread, kept
    open as SQLite apps do, and closed by the store's next call once the thread has ended, when
    the store closes, or when the store is dropped without closing: that saves a pool checkout
    and checkin per call, most of the store's own cost.
    """

    def __init__(self, engine: sa.Engine, *, per_thread: bool) -> None:
        self.engine = engine
        self.per_thread = per_thread
        self.sqlite = engine.dialect.name == "sqlite"
        self._forget()
        _all.add(self)

    def _forget(self) -> None:
        """No connection held: at creation, and in a forked child (those held are the parent's)."""
        self._thread = threading.local()
        self._held: set[sa.PoolProxiedConnection] = set()
        self._ended: list[sa.PoolProxiedConnection] = []  # of threads gone, for `take` to close
        self._lock = threading.Lock()

    def take(self) -> sa.PoolProxiedConnection:
        """A connection for one call: this thread's own, or one checked out of the pool."""
        if not self.per_thread:
            return self.engine.raw_connection()
        if self._ended:
            self._close_ended()
        pooled: sa.PoolProxiedConnection | None = getattr(self._thread, "pooled", None)
        if pooled is None or pooled.dbapi_connection is None:  # none yet, or `close` closed it
            pooled = self.engine.raw_connection()
            self._thread.pooled = pooled
            with self._lock:
                self._held.add(pooled)
            # The thread's local values die with the thread, or with the store: either way the
            # connection is let go then. Nothing here refers to the store itself, which a
            # thread that lives on (the main one) would otherwise keep, open, for ever.
            self._thread.owner = owner = _Owner()
            weakref.finalize(owner, _thread_done, weakref.ref(self), pooled, os.getpid())
        return pooled

    def give_back(self, pooled: sa.PoolProxiedConnection) -> None:
        """Return a connection after its call (a thread's own stays open for its next call)."""
        if not self.per_thread:
            pooled.close()

    def discard(self, pooled: sa.PoolProxiedConnection, error: BaseException | None) -> None:
        """Never use ``pooled`` again: it died, or was cut."""
        if self.per_thread:
            self._let_go(pooled)
        else:
            pooled.invalidate(cast("Exception | None", error))

    def drop_pool(self, pool: sa.Pool) -> None:
        """Drop every pooled connection of ``pool``: when one died, the others died with it.

        Retrying on the next pooled connection would only find another dead one (a restart
        kills them all), so the engine gets a new, empty pool, once, however many calls notice.
        """
        with self._lock:
            if self.engine.pool is pool:
                self.engine.dispose()

    def close(self) -> None:
        """Close the threads' own connections (the engine's pool is its owner's to dispose)."""
        with self._lock:
            held, self._held = self._held, set()
            self._ended.clear()
        for pooled in held:
            with contextlib.suppress(Exception):  # closing anyway: nothing to report
                pooled.close()

    def _let_go(self, pooled: sa.PoolProxiedConnection) -> None:
        """Close this thread's connection, which died, and forget it."""
        if not self._unheld(pooled):
            return  # closed already, by `close`
        if getattr(self._thread, "pooled", None) is pooled:
            self._thread.pooled = None
        with contextlib.suppress(Exception):
            pooled.invalidate()
            pooled.close()

    def _close_ended(self) -> None:
        """Close the connections of the threads that ended since the last call."""
        while self._ended:
            try:
                pooled = self._ended.pop()
            except IndexError:  # another thread's call took the last one
                return
            if self._unheld(pooled):
                with contextlib.suppress(Exception):  # closing anyway: nothing to report
                    pooled.close()

    def _unheld(self, pooled: sa.PoolProxiedConnection) -> bool:
        """Forget a thread's connection; ``False`` if `close` had taken it (to close it)."""
        with self._lock:
            if pooled not in self._held:
                return False
            self._held.discard(pooled)
            return True


class _Owner:
    """Lives in a thread's local values beside its connection, and dies with them."""

    __slots__ = ("__weakref__",)


_inherited: list[sa.PoolProxiedConnection] = []
"""A forked child's copies of its parent's connections: never used or closed by the child
(until it exits)."""


def _thread_done(
    connections: weakref.ref[Connections], pooled: sa.PoolProxiedConnection, pid: int
) -> None:
    """Let a thread's connection go once its thread ended or its store is gone."""
    if os.getpid() != pid:
        # The parent's, in a forked child (`_forget` dropped it): closing it, or letting the pool
        # collect it, could touch the parent's database file; it stays as it is.
        _inherited.append(pooled)
        return
    store = connections()
    if store is not None:
        # The thread is being torn down: code run now (the pool's checkin, its listeners and
        # logging) would find no current thread. The store's next call closes it instead.
        store._ended.append(pooled)
        return
    with contextlib.suppress(Exception):  # the store was collected: we are in the collector
        pooled.close()


class Session:
    """One operation's use of a connection: statements by name, committed at the end.

    With ``sql`` (SQLite and PostgreSQL) the statements run as SQL the store compiled once, on
    the DB-API connection: through a `Connection` each would cost about as much again as the
    bare driver. Without, they go through SQLAlchemy Core, which knows every driver's ways.
    """

    def __init__(
        self, connections: Connections, statements: Statements, sql: dict[str, str] | None
    ) -> None:
        self._connections = connections
        self._statements = statements
        self._sql = sql
        self._core: sa.Connection | None = None
        self._pool = connections.engine.pool
        self._invalidated = False
        if sql is None:
            self._core = connections.engine.connect()
            self._pooled = self._core.connection
        else:
            self._pooled = connections.take()
        self.dbapi_connection: Any = self._pooled.dbapi_connection

    def run(self, operation: Callable[[Session], _T]) -> _T:
        """Run ``operation`` so that it commits, and leaves nothing open if it fails."""
        if self._connections.sqlite:
            # Take SQLite's write lock up front (waiting up to busy_timeout for it). A statement's
            # own implicit transaction would start as a read and fail at once, without waiting,
            # if another process wrote in between.
            self._driver_execute("BEGIN IMMEDIATE", ())
        try:
            result = operation(self)
            # BEGIN IMMEDIATE above, or the transaction of an engine that is not ours.
            (self._core or self.dbapi_connection).commit()
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is the one to report
                (self._core or self.dbapi_connection).rollback()
            raise
        return result

    def execute(self, statement: str, values: dict[str, Any]) -> tuple[Sequence[Any], int]:
        """Run one of `Statements` (by its field name): its rows (if any) and its row count."""
        if self._sql is None:
            core = cast(sa.Connection, self._core)
            result = core.execute(getattr(self._statements, statement), values)
            return (result.all() if result.returns_rows else ()), result.rowcount
        dialect = self._connections.engine.dialect.name
        converted = {
            name: to_stored(value, dialect) if isinstance(value, datetime) else value
            for name, value in values.items()
        }
        return self._driver_execute(self._sql[statement], converted)

    def savepoint(self) -> contextlib.AbstractContextManager[object]:
        """Where the portable claim's insert may fail without undoing the rest."""
        core = self._core
        if core is None or not core.in_transaction():
            return contextlib.nullcontext()
        return core.begin_nested()

    def invalidate(self, error: BaseException | None) -> None:
        """Drop the connection rather than use it again: it died, or was cut."""
        self._invalidated = True
        if self._core is not None:
            if not self._core.invalidated:
                self._core.invalidate(cast("Exception | None", error))
        else:
            self._connections.discard(self._pooled, error)

    def close(self) -> None:
        """Give the connection back (to the pool, or to the thread that keeps it).

        A pool dropped meanwhile (`Connections.drop_pool`) gets nothing back: no one would close
        what it holds, but the garbage collector, with a warning.
        """
        dropped = self._connections.engine.pool is not self._pool
        if self._core is not None:
            if dropped and not self._core.invalidated:
                self._core.invalidate()
            self._core.close()
        else:
            if dropped and not self._invalidated:
                self.invalidate(None)
            self._connections.give_back(self._pooled)

    def _driver_execute(self, sql: str, parameters: Any) -> tuple[Sequence[Any], int]:
        cursor = self.dbapi_connection.cursor()
        try:
            cursor.execute(sql, parameters)
            # Read every row: SQLite finishes a statement only once it is stepped to its end.
            rows = cursor.fetchall() if cursor.description is not None else ()
            return rows, cursor.rowcount
        finally:
            cursor.close()


_all: weakref.WeakSet[Connections] = weakref.WeakSet()


def _forked() -> None:
    for connections in list(_all):
        connections._forget()


os.register_at_fork(after_in_child=_forked)
