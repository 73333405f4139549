"""One call on a Django database, failures mapped to `StoreError`: for the store and the inbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from django.conf import settings
from django.db import DataError, Error, connections

from ..._errors import StoreError
from ..._text import driver_reason
from ...stores._watchdog import Watchdog

__all__ = ["Database", "db_time", "read_time"]

_T = TypeVar("_T")


class Database:
    """How `DjangoStore` and `DjangoInbox` call their database: bounded, retried once, mapped.

    A PostgreSQL server's silence is cut short after ``network_timeout`` (a SQLite file's locks
    wait its busy ``timeout``); a connection found dead (the server restarted) is closed and the
    call tried once more; a refused value is a ``ValueError``; any other database error is a
    `StoreError` naming ``what`` failed, never the driver's message (it may quote connection
    details).
    """

    def __init__(self, what: str, network_timeout: timedelta) -> None:
        self.what = what
        self.network_timeout = network_timeout
        self._watchdog = Watchdog(network_timeout.total_seconds())

    def run(self, alias: str, operation: Callable[[], _T], limit: float | None = None) -> _T:
        """Run ``operation`` (which uses the database ``alias``); its failures become StoreError.

        ``limit``: the seconds it may take, if not ``network_timeout`` (a purge's).
        """
        connection = connections[alias]
        watchdog = self._watchdog if connection.vendor == "postgresql" else None
        for attempt in (1, 2):
            used = connection.connection  # the DB-API connection this call starts on, if any
            overran = False
            try:
                ticket = None
                if watchdog is not None:
                    connection.ensure_connection()  # bounded by the connection's connect_timeout
                    ticket = watchdog.watch(connection.connection, limit)
                try:
                    result = operation()
                finally:
                    overran = (
                        watchdog is not None and ticket is not None and not watchdog.done(ticket)
                    )
                if overran:  # answered just as it was cut: the result stands, the connection not
                    _drop(connection)
                return result
            except DataError as exc:
                # The database answered: it refused a value. Retrying cannot help, and it is no
                # outage (StoreError would make the app answer 503 for ever).
                raise ValueError(
                    f"the {connection.vendor} {self.what} refused a value of this call"
                    f" ({type(exc.__cause__ or exc).__name__})"
                ) from exc
            except Error as exc:
                cause = exc.__cause__ or exc
                if overran:
                    _drop(connection)
                    waited = self.network_timeout.total_seconds() if limit is None else limit
                    raise StoreError(
                        f"{connection.vendor} {self.what} did not answer within {waited:g} s"
                    ) from cause
                if not connection.in_atomic_block:
                    if connection.connection is not None and not connection.is_usable():
                        connection.close()
                    # The connection it started on is gone (dropped here, or by a transaction
                    # whose rollback failed): it had died since it connected.
                    if attempt == 1 and used is not None and connection.connection is not used:
                        continue
                database = connection.settings_dict  # a driver may quote what it connects with
                secrets = (database.get("PASSWORD"), database.get("OPTIONS", {}).get("password"))
                raise StoreError(
                    f"{connection.vendor} {self.what} unavailable ({driver_reason(cause, secrets)})"
                ) from cause
        raise AssertionError("unreachable")  # pragma: no cover


def _drop(connection: Any) -> None:
    """Close a connection the watchdog cut, unless a transaction of the caller's holds it."""
    if not connection.in_atomic_block:
        connection.close()


def db_time(moment: datetime) -> datetime:
    """``moment`` as this project stores times: aware UTC, or naive UTC without USE_TZ."""
    moment = moment.astimezone(timezone.utc)
    return moment if settings.USE_TZ else moment.replace(tzinfo=None)


def read_time(value: Any) -> datetime:
    """A stored time as an aware UTC datetime (naive ones are UTC, as `db_time` wrote them)."""
    moment: datetime = value
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
