"""The store contract on `DjangoStore`'s ORM path, the one databases without an upsert take.

SQLite and PostgreSQL claim with one ``INSERT … ON CONFLICT`` (tests/stores/test_contract.py
runs the contract on that); here the same contract runs on the portable path, on both databases.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from idwise_events.contrib.django.store import DjangoStore
from idwise_events.testing import FakeClock

from ...stores import test_contract
from ...stores.conftest import DJANGO_DATABASES, StoreFactory, django_store_factory

# The contract's tests, collected here again with this module's `make_store`.
globals().update(
    {name: test for name, test in vars(test_contract).items() if name.startswith("test_")}
)


class PortableDjangoStore(DjangoStore):
    """The path of databases other than SQLite and PostgreSQL, on a real database."""

    UPSERT_VENDORS: ClassVar[frozenset[str]] = frozenset()


@pytest.fixture(
    params=[
        pytest.param(
            database,
            marks=pytest.mark.django_db(
                transaction=True,
                databases=[database],
                available_apps=["idwise_events.contrib.django"],
            ),
        )
        for database in DJANGO_DATABASES.values()
    ],
    ids=["sqlite-portable", "postgresql-portable"],
)
def make_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> StoreFactory:
    database: str = request.param
    django_store_factory(database, monkeypatch)  # threads close their connections at the end
    return lambda **options: PortableDjangoStore(using=database, **options)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
