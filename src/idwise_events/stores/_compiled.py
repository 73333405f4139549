"""SQLAlchemy statements compiled once and run straight on a pooled DB-API connection.

SQLAlchemy Core writes the dialect's SQL and manages the pool; running each statement through
``Connection.execute`` would add ~50 µs of Python per statement on a 2-core machine, more than a
SQLite commit costs, so `SqlStore`'s hot path runs the precompiled SQL on the DB-API cursor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["CompiledStatement", "read_time", "time_binder"]


class CompiledStatement:
    """One statement in the SQL and parameter style of a dialect."""

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        # Positional styles (SQLite's "?") take a tuple in placeholder order; named ones a dict.
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        self._names = tuple(dict.fromkeys(compiled.bind_names.values()))

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """The DB-API parameters for ``values`` (a dict with every bound name)."""
        if self._order is not None:
            return tuple(values[name] for name in self._order)
        return {name: values[name] for name in self._names}

    def rows(self, connection: Any, values: Mapping[str, Any]) -> list[Any]:
        """Execute and return every row (reading to the end also finishes the statement)."""
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, self.parameters(values))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def rowcount(self, connection: Any, values: Mapping[str, Any]) -> int:
        """Execute and return how many rows were changed."""
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, self.parameters(values))
            count: int = cursor.rowcount
            return count
        finally:
            cursor.close()


def time_binder(dialect: sa.Dialect) -> Any:
    """How to pass an aware datetime to this dialect's driver, matching the table's column type.

    PostgreSQL takes it as it is (``timestamptz``); SQLite gets naive UTC text in SQLAlchemy's
    format (so text comparisons order correctly); other drivers get a naive UTC ``datetime``.
    """
    if dialect.name == "postgresql":
        return lambda moment: moment
    if dialect.name == "sqlite":
        return lambda moment: (
            moment.astimezone(timezone.utc)
            .replace(tzinfo=None)
            .isoformat(sep=" ", timespec="microseconds")
        )
    return lambda moment: moment.astimezone(timezone.utc).replace(tzinfo=None)


def read_time(value: datetime | str) -> datetime:
    """A timestamp read back from any driver, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
