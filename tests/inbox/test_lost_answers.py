"""A take whose answer never came, but that PostgreSQL recorded: given back, not left to lapse.

The rest of what a lost answer does to an inbox (an accept or a take tried again by the inbox
itself) is in the contract suite, on every SQL inbox.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from idwise_events import StoreError
from idwise_events._inbox import DeliveryState
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import FakeClock
from idwise_events.testing.postgres import TemporaryPostgres

from ..conftest import postgres_url
from ..stores.conftest import FreezingProxy, requires_cancel_safe, updates_running
from .conftest import accept_event, see_a_late_take_given_back

LEASE = timedelta(minutes=5)


def test_a_take_recorded_after_its_timeout_is_given_back(
    postgres: TemporaryPostgres | str,
) -> None:
    if isinstance(postgres, str):
        pytest.skip("needs the throwaway PostgreSQL server (its port), not an external URL")
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    table = f"inbox_{uuid.uuid4().hex[:12]}"
    proxy = FreezingProxy(postgres.port)
    held = SqlInbox(proxy.url(url), table_name=table, network_timeout=timedelta(seconds=1))
    other_worker = SqlInbox(url, table_name=table)
    try:
        see_a_late_take_given_back(held, other_worker, proxy)
    finally:
        held.close()
        other_worker.close()
        proxy.close()


@requires_cancel_safe
def test_a_replay_that_overran_its_time_limit_is_undone_as_it_is_reported(
    postgres: TemporaryPostgres | str,
) -> None:
    """Told "did not answer", the caller finds nothing replayed, even once the lock is gone.

    Before, the watchdog only cut the socket: the server went on waiting for the row lock, then
    replayed the delivery (a cron's `inbox purge` of millions of rows "failed" and purged).
    """
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    table = f"inbox_{uuid.uuid4().hex[:12]}"
    inbox = SqlInbox(url, table_name=table, network_timeout=timedelta(seconds=1))
    delivery_id = accept_event(inbox).id
    taken = inbox.take(delivery_id, lease=LEASE)
    assert taken is not None
    assert inbox.complete(delivery_id, taken.token)
    locker = psycopg.connect(url.replace("+psycopg", "", 1))
    try:
        locker.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", (delivery_id,))  # noqa: S608

        with pytest.raises(StoreError, match="did not answer within 1 s"):
            inbox.replay(delivery_id)

        # The UPDATE is gone from the server while the lock is still held: cancelled, not queued.
        assert updates_running(locker, table) == 0
    finally:
        locker.rollback()
        locker.close()
    time.sleep(0.2)  # were it still queued, it would run now
    after = inbox.get(delivery_id)
    assert after is not None
    assert (after.state, after.replays) == (DeliveryState.DONE, 0)
    inbox.close()


def test_an_inbox_purge_may_take_longer_than_network_timeout(
    postgres: TemporaryPostgres | str,
) -> None:
    """A purge of a big table takes minutes: it is not cut (nor cancelled) at 1 s."""
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    table = f"inbox_{uuid.uuid4().hex[:12]}"
    old = FakeClock(start=datetime.now(timezone.utc) - timedelta(days=40))
    inbox = SqlInbox(url, table_name=table, network_timeout=timedelta(seconds=1), clock=old)
    delivery_id = accept_event(inbox).id
    taken = inbox.take(delivery_id, lease=LEASE)
    assert taken is not None
    assert inbox.complete(delivery_id, taken.token)
    inbox.close()
    inbox = SqlInbox(url, table_name=table, network_timeout=timedelta(seconds=1))
    locker = psycopg.connect(url.replace("+psycopg", "", 1))
    locker.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", (delivery_id,))  # noqa: S608
    unlock = threading.Timer(2.5, locker.rollback)  # the purge waits 2.5 s for the row
    unlock.start()
    try:
        started = time.monotonic()
        assert inbox.purge(older_than=timedelta(days=30)) == 1
        assert time.monotonic() - started > 2
    finally:
        unlock.join()
        locker.close()
        inbox.close()


def test_a_call_answered_as_it_was_cut_keeps_its_answer_and_not_its_connection(
    postgres: TemporaryPostgres | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its transaction commits; the connection is dropped after, not inside it (which failed)."""
    url = postgres_url(postgres).replace("postgresql://", "postgresql+psycopg://", 1)
    inbox = SqlInbox(url, table_name=f"inbox_{uuid.uuid4().hex[:12]}")
    delivery_id = accept_event(inbox).id
    watchdog = inbox._watchdog
    assert watchdog is not None
    monkeypatch.setattr(watchdog, "done", lambda ticket: False)  # every call "overran"

    taken = inbox.take(delivery_id, lease=LEASE)  # was StoreError("...PendingRollbackError")

    assert taken is not None
    monkeypatch.undo()
    assert inbox.complete(delivery_id, taken.token)  # on a new connection
    inbox.close()
