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


def test_the_apps_index_names_are_not_those_of_the_sql_store_and_inbox() -> None:
    """Index names are one namespace per database (SQLite) or schema (PostgreSQL).

    A project may keep SqlInbox or SqlStore tables (Celery's docs) in its Django database: a
    shared name made ``migrate`` fail, or left the other table without its index.
    """
    import sqlalchemy as sa

    from idwise_events.contrib.django.models import InboxDelivery, ReceivedEvent
    from idwise_events.inbox.sql import inbox_table
    from idwise_events.stores._table import idempotency_table

    ours = {index.name for model in (InboxDelivery, ReceivedEvent) for index in model._meta.indexes}
    theirs: set[str] = set()
    for table in (inbox_table(), idempotency_table()):
        theirs |= {str(index.name) for index in table.indexes}
        theirs |= {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint) and constraint.name
        }

    assert {"idwise_events_inbox_due", "idwise_events_inbox_finished"} <= theirs
    assert not ours & theirs
