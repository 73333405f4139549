"""A store used before a fork (``gunicorn --preload``) serves the child with its own connections.

The parent's pooled connection and its watchdog thread are not the child's: a child using the
connection too reads the parent's results as its own (a new event answered as a duplicate, so
never processed), and a child that believes the watchdog runs waits on a lock without limit.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

from idwise_events import Claimed, StoreError
from idwise_events.stores.sql import SqlStore
from idwise_events.testing.postgres import TemporaryPostgres

from ..conftest import in_forked_child, postgres_url

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

LEASE = timedelta(minutes=5)


def claims_all_new(store: SqlStore, prefix: str, count: int = 100) -> str:
    """Claim ``count`` new keys: each must be Claimed; returns what differed, or "ok"."""
    results = [
        store.claim(f"{prefix}-{number}", lease=LEASE, fingerprint="f") for number in range(count)
    ]
    wrong = [type(result).__name__ for result in results if not isinstance(result, Claimed)]
    return "ok" if not wrong else f"{len(wrong)} not Claimed: {sorted(set(wrong))}"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_forked_child_claims_on_connections_of_its_own(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Parent and child claim new keys at the same time: every one of them is Claimed."""
    url = (
        f"sqlite:///{tmp_path / 'events.db'}"
        if database == "sqlite"
        else postgres_url(request.getfixturevalue("postgres"))
    )
    store = SqlStore(url, table_name=f"fork_{uuid4().hex[:8]}")
    assert isinstance(store.claim("warm", lease=LEASE, fingerprint="f"), Claimed)  # pooled now

    child_answer = in_forked_child(lambda: claims_all_new(store, "child"))
    parent = claims_all_new(store, "parent")

    assert (parent, child_answer()) == ("ok", "ok")
    store.close()


def test_a_forked_child_still_has_its_calls_cut_at_the_network_timeout(
    postgres: TemporaryPostgres | str,
) -> None:
    """Forked while the watchdog's thread waits on the parent's last call, the child starts one.

    The child's claim waits on a lock the parent holds: StoreError after the network timeout.
    """
    url = postgres_url(postgres)
    table = f"fork_{uuid4().hex[:8]}"
    store = SqlStore(url, table_name=table, network_timeout=timedelta(seconds=1))
    store.create_table()
    locker = sa.create_engine(url)
    with locker.connect() as lock:
        lock.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))

        # The watchdog's thread now waits for the deadline of create_table's calls.
        def blocked_claim() -> str:
            try:
                store.claim("locked", lease=LEASE, fingerprint="f")
            except StoreError:
                return "StoreError"
            return "claimed"

        child_answer = in_forked_child(blocked_claim)
        answer = child_answer()
        lock.rollback()

    assert answer == "StoreError"
    locker.dispose()
    store.close()
