"""The app's migrations: they match its model, and apply and unapply on SQLite and PostgreSQL."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from ...conftest import DJANGO_POSTGRESQL

TABLE = "idwise_events_receivedevent"
COLUMNS = {
    "key",
    "status",
    "token",
    "fingerprint",
    "fingerprint_mismatch",
    "event_type",
    "journey_id",
    "received_at",
    "lease_expires_at",
    "completed_at",
}


@pytest.mark.django_db
def test_the_migrations_match_the_model() -> None:
    """The shipped migration is the model's: makemigrations finds nothing to add."""
    output = StringIO()

    call_command("makemigrations", "idwise_events", check=True, dry_run=True, stdout=output)

    assert "No changes detected" in output.getvalue()


@pytest.mark.parametrize(
    "database",
    [
        pytest.param(
            "default", marks=pytest.mark.django_db(transaction=True, databases=["default"])
        ),
        pytest.param(
            DJANGO_POSTGRESQL,
            marks=pytest.mark.django_db(transaction=True, databases=[DJANGO_POSTGRESQL]),
        ),
    ],
    ids=["sqlite", "postgresql"],
)
def test_the_migrations_apply_and_unapply(database: str) -> None:
    """Back to zero drops the table, migrating again creates it with every column and its key."""
    connection = connections[database]

    call_command("migrate", "idwise_events", "zero", database=database, verbosity=0)
    assert TABLE not in connection.introspection.table_names()

    call_command("migrate", "idwise_events", database=database, verbosity=0)
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, TABLE)
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    assert {column.name for column in columns} == COLUMNS
    assert [name for name, c in constraints.items() if c["primary_key"]]
    assert any(c["columns"] == ["key"] and c["primary_key"] for c in constraints.values())
