"""A take whose answer never came, but that PostgreSQL recorded: given back, not left to lapse.

The rest of what a lost answer does to an inbox (an accept or a take tried again by the inbox
itself) is in the contract suite, on every SQL inbox.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing.postgres import TemporaryPostgres

from ..conftest import postgres_url
from ..stores.conftest import FreezingProxy
from .conftest import see_a_late_take_given_back

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
