"""The idempotency table, the one UTC time type its columns use, and the statements run on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ._keys import FINGERPRINT_LENGTH, MAX_KEY_LENGTH

__all__ = ["DEFAULT_TABLE_NAME", "idempotency_table"]

DEFAULT_TABLE_NAME = "idwise_events_idempotency"
"""The table `SqlStore` uses unless told otherwise."""

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


def to_stored(moment: datetime, dialect: str) -> datetime | str:
    """An aware time as the ``dialect`` keeps it: the one conversion every stored time goes through.

    PostgreSQL keeps it as ``timestamptz``. SQLite has no time type: it gets ISO text in UTC,
    which sorts in time order. Other databases get the naive UTC wall time.
    """
    utc = moment.astimezone(timezone.utc)
    if dialect == "postgresql":
        return utc
    if dialect == "sqlite":
        return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return utc.replace(tzinfo=None)


def from_stored(value: datetime | str) -> datetime:
    """A time read back from any database, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)  # PostgreSQL answers in the session's time zone


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """The columns' time type: aware UTC in Python, kept by each database as `to_stored` says."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(26))
        return dialect.type_descriptor(sa.DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        return None if value is None else to_stored(value, dialect.name)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else from_stored(value)


def checked_table_name(name: object, function: str) -> str:
    """``name``, if it is a table's name; `TypeError` otherwise (SQLAlchemy would take it)."""
    if not isinstance(name, str):
        raise TypeError(
            f"{function}: the table's name must be a str, not {type(name).__name__}; give your"
            f" MetaData as metadata=..."
        )
    return name


def idempotency_table(
    name: str = DEFAULT_TABLE_NAME,
    *,
    schema: str | None = None,
    metadata: sa.MetaData | None = None,
) -> sa.Table:
    """The table definition `SqlStore` uses: add it to your own ``MetaData`` to migrate it.

    ``idempotency_table(metadata=Base.metadata)`` in your models module, for Alembic's
    autogenerate to see it.

    Raises:
        TypeError: If ``name`` is not a string (a ``MetaData`` given first, say).
    """
    return sa.Table(
        checked_table_name(name, "idempotency_table"),
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("key", sa.String(MAX_KEY_LENGTH), primary_key=True),
        sa.Column("status", sa.String(11), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(FINGERPRINT_LENGTH), nullable=False),
        sa.Column("lease_expires_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        schema=schema,
    )


@dataclass(frozen=True)
class Statements:
    """Every statement the store runs, built once per table and dialect.

    Their parameters: ``event_key``, ``claim_token``, ``body_fingerprint``, ``expires_at``,
    ``now`` and ``cutoff`` (named apart from the columns, which SQLAlchemy reserves).
    """

    upsert: sa.Executable | None
    """The claim as one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``, where the dialect has it."""
    insert: sa.Executable
    """The portable claim's first step: insert the key (fails on a primary-key conflict)."""
    take_over: sa.Executable
    """The portable claim's second step: take over a claim whose lease expired."""
    lookup: sa.Executable
    """Read a key's status, lease and fingerprint."""
    complete: sa.Executable
    """Mark a key completed, if the token still holds it."""
    release: sa.Executable
    """Drop an in-progress claim, if the token still holds it."""
    renew: sa.Executable
    """Move an in-progress claim's lease expiry, if the token still holds it."""
    purge: sa.Executable
    """Forget what is older than the cutoff."""


def build_statements(table: sa.Table, *, upsert_dialect: str | None) -> Statements:
    """The statements for ``table``; with ``upsert_dialect``, its one-statement claim too."""
    t = table
    in_progress: sa.ColumnElement[str] = sa.literal_column(f"'{IN_PROGRESS}'")
    completed: sa.ColumnElement[str] = sa.literal_column(f"'{COMPLETED}'")
    key: sa.BindParameter[str] = sa.bindparam("event_key")
    token: sa.BindParameter[str] = sa.bindparam("claim_token")
    row = {
        "key": key,
        "status": in_progress,
        "token": token,
        "fingerprint": sa.bindparam("body_fingerprint"),
        "lease_expires_at": sa.bindparam("expires_at"),
    }
    lease_expired = (t.c.status == in_progress) & (t.c.lease_expires_at <= sa.bindparam("now"))
    upsert = None
    if upsert_dialect is not None:
        insert = (postgresql.insert if upsert_dialect == "postgresql" else sqlite.insert)(t)
        insert = insert.values(row)
        # A conflicting row is taken over only if its lease expired; the fingerprint of the first
        # claim is kept, and RETURNING tells which of the two happened.
        upsert = insert.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={
                "token": insert.excluded.token,
                "lease_expires_at": insert.excluded.lease_expires_at,
            },
            where=lease_expired,
        ).returning(t.c.token, t.c.fingerprint)
    cutoff: sa.BindParameter[datetime] = sa.bindparam("cutoff")
    return Statements(
        upsert=upsert,
        insert=sa.insert(t).values(row),
        take_over=sa.update(t)
        .where(t.c.key == key, lease_expired)
        .values(token=token, lease_expires_at=sa.bindparam("expires_at")),
        lookup=sa.select(t.c.status, t.c.lease_expires_at, t.c.fingerprint, t.c.token).where(
            t.c.key == key
        ),
        complete=sa.update(t)
        .where(t.c.key == key, t.c.token == token)
        .values(status=completed, completed_at=sa.bindparam("now")),
        release=sa.delete(t).where(t.c.key == key, t.c.token == token, t.c.status == in_progress),
        renew=sa.update(t)
        .where(t.c.key == key, t.c.token == token, t.c.status == in_progress)
        .values(lease_expires_at=sa.bindparam("expires_at")),
        purge=sa.delete(t).where(
            ((t.c.status == completed) & (t.c.completed_at < cutoff))
            | ((t.c.status == in_progress) & (t.c.lease_expires_at < cutoff))
        ),
    )
