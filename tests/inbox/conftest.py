"""Inbox fixtures: every inbox behind one parametrized backend (PostgreSQL: tests/conftest.py).

A backend makes inboxes (`InboxBackend.make`, each SQL one on a table of its own for the test)
and, where it can, one whose database is unavailable (`InboxBackend.unavailable`). A new inbox
joins the contract suite by adding its name to `BACKENDS` and a branch to `inbox_backend`.

The ``django-*`` backends are `DjangoInbox` in the test Django project (tests/django_project), on
its SQLite and its PostgreSQL database, as the store contract runs `DjangoStore`
(tests/stores/conftest.py): each call commits, so the tests are Django's TransactionTestCase.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from idwise_events import Event, FinishedJourney, StoreError
from idwise_events._inbox import LAPSED_ERROR, Accepted, Inbox, Taken
from idwise_events._memory_inbox import MemoryInbox
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import FakeClock, make_event
from idwise_events.testing.postgres import _free_port

from ..conftest import CANARY, postgres_url
from ..stores.conftest import DJANGO_DATABASES, FreezingProxy, django_store_factory

BACKENDS = [
    "memory",
    "sqlite",
    "postgresql",
    *(
        pytest.param(
            backend,
            marks=pytest.mark.django_db(
                transaction=True,
                databases=[database],
                available_apps=["idwise_events.contrib.django"],
            ),
        )
        for backend, database in DJANGO_DATABASES.items()
    ),
]


@dataclass
class InboxBackend:
    """How to make inboxes of one backend for a test."""

    name: str
    make: Callable[..., Inbox]
    """An inbox (options: ``clock``); the inboxes of one test share their deliveries."""
    unavailable: Callable[[], contextlib.AbstractContextManager[Inbox]] | None = None
    """A context in which the inbox it gives cannot reach its database (None: no database)."""
    url: str | None = None
    """The database URL, for SQL backends."""


@pytest.fixture(params=BACKENDS)
def inbox_backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InboxBackend]:
    """Each inbox backend in turn; SQL inboxes get a table of their own for each test."""
    name: str = request.param
    if name in DJANGO_DATABASES:
        # Threads' connections are closed at the end, as for the Django store's contract tests.
        with django_store_factory(DJANGO_DATABASES[name]):
            yield django_backend(name, DJANGO_DATABASES[name], tmp_path)
        return
    if name == "memory":
        shared: dict[str, MemoryInbox] = {}

        def memory(**options: Any) -> Inbox:
            # Every "inbox" of a test is the same one, as every SqlInbox of a test shares a table.
            if "inbox" not in shared:
                shared["inbox"] = MemoryInbox(**options)
            return shared["inbox"]

        yield InboxBackend(name, memory)
        return
    table = f"inbox_{uuid.uuid4().hex[:12]}"
    if name == "sqlite":
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path / 'db' / 'inbox.db'}"
    else:
        url = postgres_url(request.getfixturevalue("postgres"))
    opened: list[SqlInbox] = []

    def make(**options: Any) -> Inbox:
        options.setdefault("busy_timeout", timedelta(seconds=60))  # loaded machines: be patient
        inbox = SqlInbox(url, table_name=table, **options)
        opened.append(inbox)
        return inbox

    @contextlib.contextmanager
    def unavailable_sqlite() -> Iterator[Inbox]:
        # The database's directory gone (a lost disk or volume): nothing can open the file.
        inbox = SqlInbox(url, table_name=table)
        opened.append(inbox)
        inbox.create_table()
        (tmp_path / "db").rename(tmp_path / "gone")
        try:
            yield inbox
        finally:
            (tmp_path / "gone").rename(tmp_path / "db")

    @contextlib.contextmanager
    def unavailable_postgresql() -> Iterator[Inbox]:
        closed = f"postgresql+psycopg://app:CANARY-pw@127.0.0.1:{_free_port()}/events"
        inbox = SqlInbox(closed, table_name=table, network_timeout=timedelta(seconds=2))
        opened.append(inbox)
        yield inbox

    unavailable = unavailable_sqlite if name == "sqlite" else unavailable_postgresql
    yield InboxBackend(name, make, unavailable, url)
    for inbox in opened:
        inbox.close()


def django_backend(name: str, database: str, tmp_path: Path) -> InboxBackend:
    """`DjangoInbox` on the project's ``database`` (emptied after each test by Django).

    Unavailable, it is on a database alias of its own: for SQLite a file in a directory that
    does not exist, for PostgreSQL a port nothing listens on.
    """
    from django.db import connections

    from idwise_events.contrib.django.inbox import DjangoInbox

    def make(**options: Any) -> Inbox:
        return DjangoInbox(using=database, **options)

    @contextlib.contextmanager
    def unavailable() -> Iterator[Inbox]:
        alias = f"unavailable_{uuid.uuid4().hex[:8]}"
        if database == "default":
            lost = {"NAME": str(tmp_path / "gone" / "inbox.sqlite3")}
        else:
            lost = {"HOST": "127.0.0.1", "PORT": str(_free_port()), "PASSWORD": CANARY}
        connections.settings[alias] = {**connections.settings[database], **lost}
        connection = connections[alias]  # made now, and kept for this thread
        # Out of the settings, the alias is one Django's test case allows (a "dynamically
        # created connection") although the test is only marked with the project's database.
        del connections.settings[alias]
        inbox = DjangoInbox(using=alias, network_timeout=timedelta(seconds=2))
        try:
            yield inbox
        finally:
            # Its takes left unsure are given back by a thread for up to a lease: stopped now,
            # before the alias goes, or it logs, in whatever test runs then, that it is gone.
            inbox._unsure.close()
            connection.close()
            del connections[alias]

    return InboxBackend(name, make, unavailable)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def body_of(event: Event) -> bytes:
    return event.model_dump_json(by_alias=True).encode()


def accept_event(
    inbox: Inbox, event: Event | None = None, *, body: bytes | None = None
) -> Accepted:
    """Accept ``event`` (a new Finished Journey by default) as the HTTP side does."""
    event = make_event(FinishedJourney) if event is None else event
    body = body_of(event) if body is None else body
    return inbox.accept(
        key=event.idempotency_key,
        event_type=event.event,
        event_id=event.event_id,
        fingerprint=hashlib.sha256(body).hexdigest(),
        body=body,
    )


def see_a_late_take_given_back(held: Inbox, other_worker: Inbox, proxy: FreezingProxy) -> None:
    """``held`` (behind ``proxy``) takes a delivery whose answer is held: the server records it.

    The delivery is then processing under a token nobody has, for an hour, until ``held`` gives
    it back, its attempt not counted, and ``other_worker`` takes it as a first attempt.
    """
    lease = timedelta(minutes=5)
    delivery_id = accept_event(held).id
    proxy.freeze_answers()
    with pytest.raises(StoreError, match="did not answer within"):
        held.take(delivery_id, lease=timedelta(hours=1))
    assert other_worker.take(delivery_id, lease=lease) is None  # recorded all the same
    proxy.thaw()

    deadline = time.monotonic() + 30
    while (taken := other_worker.take(delivery_id, lease=lease)) is None:
        assert time.monotonic() < deadline, "the unsure take was never given back"
        time.sleep(0.2)
    assert isinstance(taken, Taken)
    assert taken.delivery.attempts == 1  # the lost take did not count
    assert taken.delivery.last_error != LAPSED_ERROR  # nor looked like a worker that died
