"""Store fixtures: every backend behind one parametrized factory (PostgreSQL: tests/conftest.py).

The ``django-*`` backends are `DjangoStore` in the test Django project (tests/django_project), on
its SQLite and its PostgreSQL database, which pytest-django creates and migrates (``-portable``:
through its ORM path, the one databases without an upsert take).
"""

from __future__ import annotations

import contextlib
import select
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
import sqlalchemy as sa

from idwise_events import Claimed, IdempotencyStore, InProgress, MemoryStore, StoreError
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import FakeClock
from idwise_events.testing.postgres import TemporaryPostgres

from ..conftest import DJANGO_POSTGRESQL, postgres_url

# Django tests run as Django's TransactionTestCase (each claim commits, as in production, so
# that threads see each other's claims); only the app's table is emptied after each test.
DJANGO_DATABASES = {"django-sqlite": "default", "django-postgresql": DJANGO_POSTGRESQL}
# DjangoStore's ORM path, the one databases without an upsert take, on the same two databases.
DJANGO_PORTABLE = {f"{backend}-portable": base for backend, base in DJANGO_DATABASES.items()}
BACKENDS = [
    "memory",
    "sqlite",
    "sqlite-portable",
    "postgresql",
    "postgresql-portable",
    *(
        pytest.param(
            backend,
            marks=pytest.mark.django_db(
                transaction=True,
                databases=[database],
                available_apps=["idwise_events.contrib.django"],
            ),
        )
        for backend, database in {**DJANGO_DATABASES, **DJANGO_PORTABLE}.items()
    ),
]
StoreFactory = Callable[..., IdempotencyStore]
UNSURE_THREAD = "idwise-events-unsure-claims"
"""The name of the thread that releases unsure claims (`stores._unsure`)."""


class PortableSqlStore(SqlStore):
    """The path other dialects take (insert, then a conditional update), on a real database."""

    UPSERT_DIALECTS = frozenset()


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Build stores of one backend; SQL stores get a table of their own for each test."""
    backend: str = request.param
    if backend.startswith("django"):
        portable = backend in DJANGO_PORTABLE
        database = DJANGO_PORTABLE[backend] if portable else DJANGO_DATABASES[backend]
        with django_store_factory(database, portable=portable) as django_factory:
            yield django_factory
        return
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
        kind = PortableSqlStore if backend.endswith("portable") else SqlStore
        store = kind(url, table_name=table, **options)
        stores.append(store)
        return store

    yield factory
    for store in stores:
        store.engine.dispose()


@contextlib.contextmanager
def django_store_factory(database: str, *, portable: bool = False) -> Iterator[StoreFactory]:
    """DjangoStores on ``database``; connections the test's threads opened are closed at the end.

    Django keeps a connection per thread and closes it at the end of a request; a thread of
    one's own must close its own. The contract tests' threads are plain threads, so Django's
    ``connection_created`` signal notes each connection opened outside the main thread, and they
    are closed here once the test is over (allowing the main thread to close another's).
    """
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.signals import connection_created

    from idwise_events.contrib.django.store import DjangoStore

    opened_by_threads: list[BaseDatabaseWrapper] = []

    def note(sender: object, *, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            opened_by_threads.append(connection)

    class PortableDjangoStore(DjangoStore):
        """The path of databases other than SQLite and PostgreSQL, on a real database."""

        UPSERT_VENDORS: ClassVar[frozenset[str]] = frozenset()

    kind = PortableDjangoStore if portable else DjangoStore

    def factory(**options: Any) -> IdempotencyStore:
        return kind(using=database, **options)

    connection_created.connect(note, weak=False)
    try:
        yield factory
    finally:
        connection_created.disconnect(note)
        for connection in opened_by_threads:
            connection.inc_thread_sharing()
            connection.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Outage:
    """Makes a store's backend unavailable: another connection locks the store's table.

    What a hung database looks like to the store: every statement waits, until the store's own
    time limit (SQLite's ``busy_timeout``, PostgreSQL's ``network_timeout``) turns the wait into
    `StoreError`.
    """

    options: dict[str, Any]
    """Store options that bound the wait, for `make_store`."""
    lock: Callable[[Any], contextlib.AbstractContextManager[None]]
    """Holds the lock on the given store's table for the duration of a ``with`` block."""


@contextlib.contextmanager
def _locked_sqlite(path: Path) -> Iterator[None]:
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@contextlib.contextmanager
def _locked_postgresql(connection: psycopg.Connection[Any], table: str) -> Iterator[None]:
    with connection:  # closed at the end
        connection.autocommit = True
        connection.execute("BEGIN")
        connection.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        try:
            yield
        finally:
            connection.execute("ROLLBACK")


@pytest.fixture
def outage(request: pytest.FixtureRequest, make_store: StoreFactory, tmp_path: Path) -> Outage:
    """An `Outage` for the backend `make_store` builds (skipped where there is none to make)."""
    backend: str = request.node.callspec.params["make_store"]
    if backend == "memory":
        pytest.skip("an in-process store has no backend to lose")
    if backend.startswith("django-sqlite"):
        pytest.skip("the Django project's SQLite waits 20 s for a lock (its 'timeout' option)")
    if backend.startswith("sqlite"):
        return Outage(
            {"busy_timeout": timedelta(milliseconds=200)},
            lambda store: _locked_sqlite(tmp_path / "events.db"),
        )
    network_timeout = {"network_timeout": timedelta(seconds=1)}
    if backend.startswith("django-postgresql"):
        from django.db import connections

        from idwise_events.contrib.django.models import ReceivedEvent

        django = connections[DJANGO_POSTGRESQL]
        return Outage(
            network_timeout,
            lambda store: _locked_postgresql(
                django.get_new_connection(django.get_connection_params()),
                ReceivedEvent._meta.db_table,
            ),
        )
    url = sa.make_url(postgres_url(request.getfixturevalue("postgres"))).set(
        drivername="postgresql"
    )
    return Outage(
        network_timeout,
        lambda store: _locked_postgresql(
            psycopg.connect(url.render_as_string(hide_password=False)), store.table.name
        ),
    )


class FreezingProxy:
    """A TCP proxy on 127.0.0.1 that can stop forwarding while keeping every socket open.

    What a frozen network looks like from the client: connections stay up, the kernel still
    acknowledges what the client sends, but no answer ever comes back (a hung pooler, a peer
    behind a dead NAT entry). Frozen, it neither reads nor writes; thawed, it forwards again.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._frozen = threading.Event()
        self._answers_frozen = threading.Event()
        self._gate = threading.Lock()  # held while forwarding, so `freeze` waits for a chunk
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, database_url: str) -> str:
        """``database_url`` (of the upstream server, on 127.0.0.1) through this proxy."""
        return database_url.replace(f":{self._upstream_port}/", f":{self.port}/")

    def freeze(self) -> None:
        """Stop forwarding in both directions; nothing sent after this gets through."""
        with self._gate:
            self._frozen.set()

    def freeze_answers(self) -> None:
        """Forward what the client sends, but hold the server's answers.

        The server runs a statement whose client never hears back: a claim committed by a
        database that the store thinks did not answer.
        """
        with self._gate:
            self._answers_frozen.set()

    def thaw(self) -> None:
        with self._gate:
            self._frozen = threading.Event()
            self._answers_frozen = threading.Event()

    def close(self) -> None:
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(("127.0.0.1", self._upstream_port), timeout=5)
            self._sockets += [client, server]
            for source, target, answers in ((client, server, False), (server, client, True)):
                thread = threading.Thread(
                    target=self._forward, args=(source, target, answers), daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _forward(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        while not self._closed.is_set():
            if self._frozen.is_set() or (answers and self._answers_frozen.is_set()):
                time.sleep(0.01)
                continue
            try:
                readable, _, _ = select.select([source], [], [], 0.05)
                if not readable:
                    continue
                with self._gate:
                    if self._frozen.is_set() or (answers and self._answers_frozen.is_set()):
                        continue
                    data = source.recv(65536)
                    if not data:
                        target.shutdown(socket.SHUT_WR)
                        return
                    target.sendall(data)
            except OSError:  # a socket closed by the other side or by `close`
                return


@pytest.fixture
def freezing_proxy(postgres: TemporaryPostgres | str) -> Iterator[FreezingProxy]:
    """A `FreezingProxy` in front of the session's PostgreSQL server."""
    if isinstance(postgres, str):
        pytest.skip("needs the throwaway PostgreSQL server (its port), not an external URL")
    proxy = FreezingProxy(postgres.port)
    yield proxy
    proxy.close()


def see_a_late_claim_released(
    store: IdempotencyStore,
    other_machine: IdempotencyStore,
    proxy: FreezingProxy,
    *,
    claimed_again: bool,
) -> None:
    """``store`` (behind ``proxy``) claims once its answer is held: PostgreSQL records the claim.

    The claim then holds the event for an hour with no one to run it, as ``other_machine`` sees,
    until ``store`` releases it: before claiming the key again (``claimed_again``), or in the
    background when the retry goes to ``other_machine``.
    """
    lease = timedelta(minutes=5)
    assert isinstance(store.claim("warm-up", lease=lease, fingerprint="a"), Claimed)
    proxy.freeze_answers()
    with pytest.raises(StoreError, match="did not answer within"):
        store.claim("evt", lease=timedelta(hours=1), fingerprint="a")
    held = other_machine.claim("evt", lease=lease, fingerprint="a")
    assert isinstance(held, InProgress)  # recorded all the same: nobody holds it
    assert held.retry_after > timedelta(minutes=59)
    proxy.thaw()

    claimer = store if claimed_again else other_machine
    deadline = time.monotonic() + 30
    while isinstance(claimer.claim("evt", lease=lease, fingerprint="a"), InProgress):
        assert time.monotonic() < deadline, "the unsure claim was never released"
        time.sleep(0.2)


requires_cancel_safe = pytest.mark.skipif(
    not psycopg.capabilities.has_cancel_safe(),
    reason="the watchdog cancels statements only with psycopg on libpq 17 or later",
)
"""For the tests of a statement cancelled on the server once its call overran."""


def updates_running(locker: psycopg.Connection[Any], table: str) -> int:
    """How many UPDATEs of ``table`` other sessions still run (or wait for a lock), up to 5 s.

    A cancelled one ends within moments of the cancel; one that was not waits for the lock.
    """
    deadline = time.monotonic() + 5.0
    while True:
        row = locker.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE %s AND pid <> pg_backend_pid()",
            (f"UPDATE {table}%",),
        ).fetchone()
        running = row[0] if row else 0
        if running == 0 or time.monotonic() > deadline:
            return running
        time.sleep(0.05)
