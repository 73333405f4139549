"""The handler's side effect in PostgreSQL: one row per event key, counting the handler's runs."""

from __future__ import annotations

from typing import Any

TABLE = "stress_effects"
CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, runs int NOT NULL)"
RECORD = (
    f"INSERT INTO {TABLE} (key, runs) VALUES (%s, 1)"  # noqa: S608 -- a fixed name; key bound
    f" ON CONFLICT (key) DO UPDATE SET runs = {TABLE}.runs + 1"
)


def conninfo(port: int) -> str:
    """The libpq connection string for a `TemporaryPostgres` on ``port``."""
    return f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"


def create(info: str) -> None:
    """Create the side-effect table (once per server)."""
    import psycopg

    with psycopg.connect(info, autocommit=True) as connection:
        connection.execute(CREATE)


def runs(info: str, prefix: str) -> dict[str, int]:
    """How many times the handler ran, for each event key starting with ``prefix``."""
    import psycopg

    with psycopg.connect(info, autocommit=True) as connection:
        rows: list[Any] = connection.execute(
            f"SELECT key, runs FROM {TABLE} WHERE key LIKE %s",  # noqa: S608 -- a fixed table name
            (prefix.replace("%", r"\%") + "%",),
        ).fetchall()
    return {key: count for key, count in rows}
