"""DjangoStore beyond the store contract: what it records, time zones, outages, single DELETEs.

The contract itself (claim, lease, fencing, fingerprints, purge, concurrency) runs on DjangoStore
in tests/stores/test_contract.py, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import CaptureQueriesContext

from idwise_events import (
    Claimed,
    Completed,
    FinishedJourney,
    IdempotencyStore,
    InProgress,
    StoreError,
    UnknownEvent,
)
from idwise_events.contrib.django.models import ReceivedEvent
from idwise_events.contrib.django.store import DjangoStore
from idwise_events.testing import FakeClock, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from ...conftest import CANARY, DJANGO_POSTGRESQL, postgres_url, require_postgres_programs
from ...stores.conftest import UNSURE_THREAD, FreezingProxy, see_a_late_claim_released

LEASE = timedelta(minutes=5)


def claimed(result: object) -> Claimed:
    assert isinstance(result, Claimed), result
    return result


def test_it_is_an_idempotency_store() -> None:
    """DjangoStore satisfies the runtime-checkable protocol the dispatcher takes."""
    assert isinstance(DjangoStore(), IdempotencyStore)
    assert (
        repr(DjangoStore(using="events"))
        == "DjangoStore(using='events', retention=30 days, 0:00:00)"
    )


@pytest.mark.django_db
def test_the_event_type_journey_and_a_mismatch_are_recorded_for_the_admin() -> None:
    """record_event fills the type and journey; another body under the key sets the flag."""
    store = DjangoStore()
    event = make_event(FinishedJourney, journey_id="journey-store-1")
    key = event.idempotency_key
    claimed(store.claim(key, lease=LEASE, fingerprint="a"))

    store.record_event(event)
    store.claim(key, lease=LEASE, fingerprint="b")

    row = ReceivedEvent.objects.get(key=key)
    assert (row.event_type, row.journey_id, row.fingerprint_mismatch) == (
        "Finished Journey",
        "journey-store-1",
        True,
    )


@pytest.mark.django_db
def test_what_is_recorded_is_cut_to_what_any_database_holds() -> None:
    """An unknown event's odd name has NUL and surrogates escaped, in ASCII, cut to the column."""
    store = DjangoStore()
    event = UnknownEvent(event="Journey\x00 Archived \ud800" + "x" * 200, body={"eventId": "u-1"})
    claimed(store.claim(event.idempotency_key, lease=LEASE, fingerprint="a"))

    store.record_event(event)

    row = ReceivedEvent.objects.get()
    assert row.event_type == ("Journey\\x00 Archived \\ud800" + "x" * 200)[:97] + "..."
    assert row.journey_id == ""


@pytest.mark.django_db
def test_it_works_without_use_tz(settings: Any) -> None:
    """With USE_TZ off the times are stored naive, in UTC, and leases still expire on time."""
    settings.USE_TZ = False
    clock = FakeClock()
    store = DjangoStore(clock=clock)
    first = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))
    clock.advance(timedelta(minutes=1))

    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == InProgress(timedelta(minutes=4))
    clock.advance(LEASE)
    second = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a"))
    assert store.complete("evt-1", first.token) is False
    assert store.complete("evt-1", second.token) is True
    assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()
    stored = ReceivedEvent.objects.get()
    assert stored.lease_expires_at.tzinfo is None
    assert stored.lease_expires_at == (clock.now + LEASE).replace(tzinfo=None)


@pytest.mark.django_db
def test_release_and_purge_are_one_delete_even_with_delete_receivers() -> None:
    """Receivers of every model's deletes do not turn them into a select, then a delete by key."""
    calls: list[object] = []

    def audit(sender: type[Any], **kwargs: Any) -> None:
        calls.append(sender)

    store = DjangoStore(retention=timedelta(0))
    token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    pre_delete.connect(audit, weak=False)
    post_delete.connect(audit, weak=False)
    try:
        with CaptureQueriesContext(connections["default"]) as released:
            assert store.release("evt-1", token) is True
        claimed(store.claim("evt-2", lease=timedelta(seconds=1), fingerprint="a"))
        with CaptureQueriesContext(connections["default"]) as purged:
            store.purge()
    finally:
        pre_delete.disconnect(audit)
        post_delete.disconnect(audit)

    for queries in (released, purged):
        [query] = queries.captured_queries
        assert query["sql"].startswith("DELETE FROM")
        assert " WHERE " in query["sql"]
    assert calls == []


@contextmanager
def extra_database(alias: str, **settings: Any) -> Iterator[str]:
    """A database alias for one test, like the project's postgresql one but with ``settings``."""
    connections.settings[alias] = {
        **copy.deepcopy(connections.settings[DJANGO_POSTGRESQL]),
        **settings,
    }
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


@contextmanager
def answers_held_by_a_proxy(django_db_blocker: Any) -> Iterator[tuple[FreezingProxy, str, str]]:
    """A PostgreSQL server of the test's own, migrated, behind a proxy that can hold answers.

    Yields the proxy and two database aliases: one through it, one direct. At the end, waits
    for the thread that releases unsure claims to end (closing its connection): it runs once
    the claims or takes the test left unsure are settled.
    """
    require_postgres_programs()
    with TemporaryPostgres() as server, django_db_blocker.unblock():
        proxy = FreezingProxy(server.port)
        where = {"HOST": "127.0.0.1", "NAME": "postgres", "USER": "postgres"}
        try:
            with (
                extra_database("held", PORT=str(proxy.port), **where) as alias,
                extra_database("direct", PORT=str(server.port), **where) as direct,
            ):
                call_command("migrate", "idwise_events", database=direct, verbosity=0)
                yield proxy, alias, direct
                deadline = time.monotonic() + 30
                while any(t.name == UNSURE_THREAD for t in threading.enumerate()):
                    assert time.monotonic() < deadline, "the releasing thread never ended"
                    time.sleep(0.1)
        finally:
            proxy.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_database_gives_store_error_without_the_password(
    django_db_blocker: Any,
) -> None:
    """Connection refused: StoreError from the driver's error, the password nowhere in it."""
    settings = {"HOST": "127.0.0.1", "PORT": str(free_port()), "PASSWORD": CANARY}
    with django_db_blocker.unblock(), extra_database("unreachable", **settings) as alias:
        store = DjangoStore(using=alias)

        with pytest.raises(StoreError, match="postgresql idempotency store unavailable") as caught:
            store.claim("evt-1", lease=LEASE, fingerprint="a")

    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    assert CANARY not in str(caught.value)
    assert "Connection refused" in str(caught.value)  # the reason, for whoever reads the log


def test_a_store_error_hides_the_password_wherever_the_driver_quotes_it(
    django_db_blocker: Any, postgres: TemporaryPostgres | str
) -> None:
    """A database named as the password does not exist: the server's message names it."""
    server = urlsplit(postgres_url(postgres))
    where = {"HOST": server.hostname, "PORT": str(server.port), "USER": server.username}
    with (
        django_db_blocker.unblock(),
        extra_database("missing", **where, NAME=CANARY, PASSWORD=CANARY) as alias,
    ):
        store = DjangoStore(using=alias)

        with pytest.raises(StoreError) as caught:
            store.claim("evt-1", lease=LEASE, fingerprint="a")

    assert 'database "***" does not exist' in str(caught.value)
    assert CANARY not in str(caught.value)


def test_an_outage_gives_store_error_and_the_first_call_after_a_restart_succeeds(
    django_db_blocker: Any,
) -> None:
    """Down: StoreError. Restarted: the dead connection is dropped and the call retried once."""
    require_postgres_programs()  # a server of its own, to stop and start
    with (
        TemporaryPostgres() as server,
        django_db_blocker.unblock(),
        extra_database(
            "restarted", HOST="127.0.0.1", PORT=str(server.port), NAME="postgres", USER="postgres"
        ) as alias,
    ):
        call_command("migrate", "idwise_events", database=alias, verbosity=0)
        store = DjangoStore(using=alias)
        token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token

        server.stop()
        with pytest.raises(StoreError) as caught:
            store.complete("evt-1", token)
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)

        server.start()
        assert store.complete("evt-1", token) is True  # reconnects: it was closed when found dead
        server.stop()
        server.start()
        assert store.claim("evt-1", lease=LEASE, fingerprint="a") == Completed()  # retried once


def test_a_frozen_network_gives_store_error_within_the_network_timeout(
    django_db_blocker: Any,
) -> None:
    """A server gone silent after connecting: StoreError after network_timeout, then it recovers."""
    require_postgres_programs()  # a server of its own, behind a proxy that can freeze
    with TemporaryPostgres() as server, django_db_blocker.unblock():
        proxy = FreezingProxy(server.port)
        settings = {"HOST": "127.0.0.1", "PORT": str(proxy.port), "NAME": "postgres"}
        try:
            with extra_database("frozen", USER="postgres", **settings) as alias:
                call_command("migrate", "idwise_events", database=alias, verbosity=0)
                store = DjangoStore(using=alias, network_timeout=timedelta(seconds=1))
                connected, frozen = threading.Event(), threading.Event()
                outcome: list[object] = []

                def worker() -> None:
                    """Claim (connecting), then complete on the same connection once frozen."""
                    try:
                        token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
                        connected.set()
                        frozen.wait(timeout=30)
                        started = time.monotonic()
                        try:
                            store.complete("evt-1", token)
                        except StoreError as exc:
                            outcome.append(exc)
                        outcome.append(time.monotonic() - started)
                        proxy.thaw()
                        outcome.append(store.complete("evt-1", token))
                    finally:
                        connections.close_all()

                thread = threading.Thread(target=worker)
                thread.start()
                assert connected.wait(timeout=30)
                proxy.freeze()
                frozen.set()
                thread.join(timeout=60)

                error, elapsed, recovered = outcome
                assert isinstance(error, StoreError), error
                assert str(error) == "postgresql idempotency store did not answer within 1 s"
                assert isinstance(error.__cause__, psycopg.OperationalError)
                assert isinstance(elapsed, float)
                assert elapsed < 10  # about 1 s; generous for a loaded machine
                assert recovered is True  # a new connection, the cut one was closed
        finally:
            proxy.close()


@pytest.mark.parametrize("claimed_again", [True, False], ids=["claimed-again", "left-alone"])
def test_a_claim_recorded_after_its_timeout_is_released_not_left_to_block_retries(
    django_db_blocker: Any, claimed_again: bool
) -> None:
    """PostgreSQL runs a claim whose answer never came: the store releases it, as SqlStore does.

    Otherwise every retry would get 409 for the rest of the lease (an hour here), past the last
    of IDWise's retries. Released before the key is claimed again, or in the background when
    nothing claims it (another machine may get the retry).
    """
    with answers_held_by_a_proxy(django_db_blocker) as (proxy, alias, direct):
        store = DjangoStore(using=alias, network_timeout=timedelta(seconds=1))
        other_machine = DjangoStore(using=direct)
        see_a_late_claim_released(store, other_machine, proxy, claimed_again=claimed_again)


@pytest.mark.django_db(transaction=True, databases=["default", DJANGO_POSTGRESQL])
def test_a_claim_retried_on_a_fresh_connection_finds_its_own_row_claimed() -> None:
    """The first try committed and its connection died before the answer: the retry is ours.

    `Database.run` tries once more on a fresh connection after a dead one, with the same
    values; the row it finds holds this call's own token, which is a claim, not an event in
    progress elsewhere.
    """
    store = DjangoStore(using=DJANGO_POSTGRESQL)
    first = claimed(store.claim("evt", lease=LEASE, fingerprint="a"))
    values = {"key": "evt", "fingerprint": "a", "token": first.token}
    now = datetime.now(timezone.utc)

    def claim_again(values: dict[str, str]) -> object:
        return store._run(lambda rows, alias: store._claim(rows, alias, values, now, LEASE))

    assert claim_again(values) == Claimed(first.token)
    assert isinstance(claim_again({**values, "token": "another"}), InProgress)


ON_BOTH_DATABASES = pytest.mark.parametrize(
    "database",
    [
        pytest.param("default", marks=pytest.mark.django_db(databases=["default"])),
        pytest.param(DJANGO_POSTGRESQL, marks=pytest.mark.django_db(databases=[DJANGO_POSTGRESQL])),
    ],
    ids=["sqlite", "postgresql"],
)


@ON_BOTH_DATABASES
def test_renew_extends_the_lease_its_token_holds(database: str) -> None:
    """The holder's renew moves the lease to now + lease: a retry then waits, not takes over."""
    clock = FakeClock()
    store = DjangoStore(using=database, clock=clock)
    token = claimed(store.claim("evt-renew", lease=LEASE, fingerprint="a")).token
    clock.advance(minutes=4)

    assert store.renew("evt-renew", token, lease=timedelta(minutes=10))

    row = ReceivedEvent.objects.using(database).get(key="evt-renew")
    assert row.lease_expires_at == clock.now + timedelta(minutes=10)
    clock.advance(minutes=9)  # past the first lease, within the renewed one
    retry = store.claim("evt-renew", lease=LEASE, fingerprint="a")
    assert isinstance(retry, InProgress)
    assert store.complete("evt-renew", token)


@ON_BOTH_DATABASES
def test_renew_is_refused_once_the_claim_is_gone(database: str) -> None:
    """Completed, released, taken over or another token: False, and the row is left as it was."""
    clock = FakeClock()
    store = DjangoStore(using=database, clock=clock)
    done = claimed(store.claim("evt-done", lease=LEASE, fingerprint="a")).token
    store.complete("evt-done", done)
    released = claimed(store.claim("evt-released", lease=LEASE, fingerprint="a")).token
    store.release("evt-released", released)
    crashed = claimed(store.claim("evt-taken", lease=LEASE, fingerprint="a")).token
    clock.advance(LEASE + timedelta(seconds=1))
    taker = claimed(store.claim("evt-taken", lease=LEASE, fingerprint="a")).token
    before = list(ReceivedEvent.objects.using(database).order_by("key").values())

    assert not store.renew("evt-done", done, lease=LEASE)
    assert not store.renew("evt-released", released, lease=LEASE)
    assert not store.renew("evt-taken", crashed, lease=LEASE)
    assert not store.renew("evt-taken", "not-a-token", lease=LEASE)
    assert not store.renew("evt-never-claimed", taker, lease=LEASE)
    assert list(ReceivedEvent.objects.using(database).order_by("key").values()) == before
    assert store.renew("evt-taken", taker, lease=LEASE)


@pytest.mark.parametrize(
    "lease", [timedelta(0), timedelta(seconds=-1), timedelta(days=1, microseconds=1)]
)
def test_renew_refuses_a_lease_a_claim_would_refuse(lease: timedelta) -> None:
    """Outside (0, 1 day]: ValueError before the database is asked."""
    with pytest.raises(ValueError, match="lease"):
        DjangoStore().renew("evt-1", "token", lease=lease)


def test_renew_on_an_unreachable_database_is_a_store_error(django_db_blocker: Any) -> None:
    """Connection refused: StoreError, as for every other call."""
    unreachable = extra_database("unreachable", PORT=str(free_port()))
    with django_db_blocker.unblock(), unreachable as alias:
        store = DjangoStore(using=alias)

        with pytest.raises(StoreError, match="postgresql idempotency store unavailable"):
            store.renew("evt-1", "token", lease=LEASE)


ON_BOTH_DATABASES_COMMITTING = pytest.mark.parametrize(
    "database",
    [
        pytest.param(
            alias,
            marks=pytest.mark.django_db(
                transaction=True, databases=[alias], available_apps=["idwise_events.contrib.django"]
            ),
        )
        for alias in ("default", DJANGO_POSTGRESQL)
    ],
    ids=["sqlite", "postgresql"],
)


@ON_BOTH_DATABASES_COMMITTING
def test_a_claim_and_a_completion_are_one_statement_each(database: str) -> None:
    """On SQLite and PostgreSQL, outside a transaction: one round trip each, nothing around them.

    A new key and an expired lease are both claimed by the one ``INSERT … ON CONFLICT``; a
    claim held by another is that statement and a read of the row.
    """
    clock = FakeClock()
    store = DjangoStore(using=database, clock=clock)
    connection = connections[database]

    with CaptureQueriesContext(connection) as claiming:
        token = claimed(store.claim("evt-1", lease=LEASE, fingerprint="a")).token
    with CaptureQueriesContext(connection) as completing:
        assert store.complete("evt-1", token)
    clock.advance(minutes=1)
    held = claimed(store.claim("evt-2", lease=LEASE, fingerprint="a")).token
    clock.advance(LEASE)
    with CaptureQueriesContext(connection) as taking_over:
        taken = claimed(store.claim("evt-2", lease=LEASE, fingerprint="b"))

    [claim] = claiming.captured_queries
    assert claim["sql"].startswith("INSERT INTO")
    assert "ON CONFLICT" in claim["sql"]
    [complete] = completing.captured_queries
    assert complete["sql"].startswith("UPDATE")
    assert len(taking_over.captured_queries) == 1
    assert (taken.token != held, taken.fingerprint_mismatch) == (True, True)
    row = ReceivedEvent.objects.using(database).get(key="evt-2")
    assert (row.token, row.fingerprint, row.fingerprint_mismatch) == (taken.token, "a", True)
    assert row.lease_expires_at == clock.now + LEASE


@ON_BOTH_DATABASES_COMMITTING
def test_a_claim_inside_the_callers_transaction_is_part_of_it(database: str) -> None:
    """In ``transaction.atomic`` the claim commits or rolls back with the caller's work."""
    store = DjangoStore(using=database)

    def failing_work() -> None:
        with transaction.atomic(using=database):
            claimed(store.claim("evt-rolled-back", lease=LEASE, fingerprint="a"))
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        failing_work()
    with transaction.atomic(using=database):
        kept = claimed(store.claim("evt-kept", lease=LEASE, fingerprint="a"))

    assert not ReceivedEvent.objects.using(database).filter(key="evt-rolled-back").exists()
    assert ReceivedEvent.objects.using(database).get(key="evt-kept").token == kept.token
