"""`DjangoStore`: the idempotency store on the Django ORM, in the project's own database.

```python
from idwise_events.contrib.django.store import DjangoStore

store = DjangoStore()                    # the database Django's routers pick for writes
store = DjangoStore(using="events")      # or a database alias of your settings
```
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.db import connections, router, transaction
from django.db.models import Q

from ..._errors import StoreError
from ..._events import Event, UnknownEvent
from ..._store import (
    DEFAULT_RETENTION,
    Claimed,
    ClaimResult,
    Clock,
    Completed,
    InProgress,
    check_lease,
    check_retention,
    report_fingerprint_mismatch,
    retry_after,
    utc_now,
)
from ..._text import ascii_printable
from ...stores._keys import stored_fingerprint, stored_key
from ...stores._unsure import UnsureClaims
from ...stores._watchdog import PURGE_LIMIT
from ._database import Database, db_time, read_time

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

    from .models import ReceivedEvent

__all__ = ["DjangoStore"]

_T = TypeVar("_T")
_TEXT_LENGTH = 100  # of the event_type and journey_id columns


class DjangoStore:
    """Idempotency keys in the project's database, through the ORM, as `SqlStore` keeps them.

    Each key is a [`ReceivedEvent`][idwise_events.contrib.django.models.ReceivedEvent] row, with
    the claim, lease, fencing, fingerprint and purge semantics of
    [`SqlStore`][idwise_events.stores.sql.SqlStore]. Each call commits on its own: call the store
    outside ``transaction.atomic`` (the app's view runs outside ``ATOMIC_REQUESTS``). How it
    claims, which databases it needs, and what it does when the database fails or goes silent
    are on the Django page of the docs.

    Args:
        using: The database alias; by default, the one ``DATABASE_ROUTERS`` give for writing
            `ReceivedEvent` (``"default"`` without routers). Every call reads and writes there.
        retention: How long completed keys are remembered; `purge` forgets older ones.
        network_timeout: PostgreSQL: the longest a call waits for the server's answer (a frozen
            network, a failover, a hung pooler) before its connection is cut.
        clock: Returns the current time, timezone-aware; inject one in tests.

    Raises:
        ValueError: If ``network_timeout`` is not positive.
    """

    blocking = True
    """Calls wait on the database: async code runs them in a thread (Django's, through the app)."""

    UPSERT_VENDORS: ClassVar[frozenset[str]] = frozenset({"postgresql", "sqlite"})
    """Databases whose claim is one ``INSERT … ON CONFLICT … RETURNING`` statement (SQLite from
    3.35); others take the ORM's path (an insert, a read, maybe a conditional update, in one
    transaction). A subclass may narrow it, as the tests do to prove the ORM's path."""

    def __init__(
        self,
        *,
        using: str | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        network_timeout: timedelta = timedelta(seconds=10),
        clock: Clock = utc_now,
    ) -> None:
        if network_timeout <= timedelta(0):
            raise ValueError(f"network_timeout must be more than zero, not {network_timeout}")
        self.using = using
        self.retention: timedelta = check_retention(retention)
        self.network_timeout = network_timeout
        self._database = Database("idempotency store", network_timeout)
        self._clock = clock
        # A claim PostgreSQL may record after its answer was lost, released once it can be, as
        # `SqlStore` does (the releasing thread closes the connections it opened as it ends).
        self._unsure = UnsureClaims(self.release, finished=connections.close_all)

    def __repr__(self) -> str:
        return f"DjangoStore(using={self.using!r}, retention={self.retention})"

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        """See [`IdempotencyStore.claim`][idwise_events.IdempotencyStore.claim]."""
        check_lease(lease)
        self._unsure.settle(key)
        now = self._clock()
        values = {
            "key": stored_key(key),
            "fingerprint": stored_fingerprint(fingerprint),
            "token": uuid.uuid4().hex,  # unique across every process and machine
        }
        try:
            result = self._run(lambda rows, alias: self._claim(rows, alias, values, now, lease))
        except StoreError:
            if connections[self._alias()].vendor != "sqlite":  # (a file: a failure did not run)
                # No answer is not no claim: the server may record it still (see `_unsure`).
                self._unsure.add(key, values["token"], lease.total_seconds())
            raise
        if result.fingerprint_mismatch:
            report_fingerprint_mismatch(key)
        return result

    def complete(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.complete`][idwise_events.IdempotencyStore.complete]."""
        now = db_time(self._clock())
        # Matches the token whatever the status: a retry after a lost reply still says True.
        return self._execute("complete", _COMPLETED, now, stored_key(key), token) == 1

    def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        """Extend the claim ``token`` holds on ``key`` to ``lease`` from now, while a handler runs.

        One ``UPDATE`` fenced by the token: False, and nothing changed, if the event was
        completed, released or taken over meanwhile.

        Raises:
            ValueError: If ``lease`` is not more than zero and at most a day, as for `claim`.
            StoreError: If the database is unavailable.
        """
        check_lease(lease)
        expires = db_time(self._clock() + lease)
        return self._execute("renew", expires, stored_key(key), token, _IN_PROGRESS) == 1

    def release(self, key: str, token: str) -> bool:
        """See [`IdempotencyStore.release`][idwise_events.IdempotencyStore.release]."""
        return self._execute("release", stored_key(key), token, _IN_PROGRESS) == 1

    def purge(self) -> int:
        """See [`IdempotencyStore.purge`][idwise_events.IdempotencyStore.purge]."""
        cutoff = db_time(self._clock() - self.retention)
        stale = Q(status=_COMPLETED, completed_at__lt=cutoff) | Q(
            status=_IN_PROGRESS, lease_expires_at__lt=cutoff
        )
        return self._run(lambda rows, alias: _delete(rows.filter(stale), alias), PURGE_LIMIT)

    def record_event(self, event: Event) -> None:
        """Note the event's type and journey on its row, for the admin (the app calls it).

        The store's protocol only knows keys, so the app's dispatcher calls this before your
        handlers, while it holds the event.
        """
        journey_id = None if isinstance(event, UnknownEvent) else event.body.journey_id
        self._run(
            lambda rows, alias: rows.filter(key=stored_key(event.idempotency_key)).update(
                event_type=_displayable(event.event), journey_id=_displayable(journey_id or "")
            )
        )

    def _execute(self, name: str, *values: Any) -> int:
        """Run one of the store's fenced statements (`_Sql`); how many rows it changed."""

        def execute(rows: QuerySet[ReceivedEvent], alias: str) -> int:
            connection = connections[alias]
            statement = getattr(_sql(rows.model, connection), name)
            with connection.cursor() as cursor:
                cursor.execute(statement, [_param(value, connection) for value in values])
                changed: int = cursor.rowcount
            return changed

        return self._run(execute)

    def _claim(
        self,
        rows: QuerySet[ReceivedEvent],
        alias: str,
        values: dict[str, str],
        now: datetime,
        lease: timedelta,
    ) -> ClaimResult:
        connection = connections[alias]
        if connection.vendor in self.UPSERT_VENDORS and (
            connection.features.can_return_columns_from_insert
        ):
            return _claim_upserting(rows, connection, values, now, lease)
        return _claim_portably(rows, alias, values, now, lease)

    def _run(
        self, operation: Callable[[QuerySet[ReceivedEvent], str], _T], limit: float | None = None
    ) -> _T:
        """Run ``operation`` on this store's database; its failures become StoreError.

        ``limit``: the seconds it may take, if not ``network_timeout`` (a purge's).
        """
        from .models import ReceivedEvent  # not at import: the app registry may not be ready

        alias = self._alias()
        rows = ReceivedEvent.objects.using(alias)
        return self._database.run(alias, lambda: operation(rows, alias), limit)

    def _alias(self) -> str:
        from .models import ReceivedEvent

        return self.using or router.db_for_write(ReceivedEvent)


_IN_PROGRESS, _COMPLETED = "in_progress", "completed"


def _claim_upserting(
    rows: QuerySet[ReceivedEvent],
    connection: BaseDatabaseWrapper,
    values: dict[str, str],
    now: datetime,
    lease: timedelta,
) -> ClaimResult:
    """The claim in one statement, committed on its own: a new key, or an expired lease taken.

    Otherwise the row is read to say what holds it, as `SqlStore` does. Sent through the
    connection's cursor (the ORM cannot say ``ON CONFLICT … DO UPDATE … WHERE … RETURNING``),
    outside any transaction but the caller's: one round trip where the ORM's path takes four.
    """
    key, token = values["key"], values["token"]
    db_now, expires = db_time(now), db_time(now + lease)
    statement = _sql(rows.model, connection).claim
    row = (key, _IN_PROGRESS, token, values["fingerprint"], False, "", "", db_now, expires, None)
    params = [_param(value, connection) for value in (*row, _IN_PROGRESS, db_now)]
    for _ in range(3):  # a claim released between our statements is simply claimed again
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            returned = cursor.fetchone()
        if returned is not None:  # ours: new, or taken over (its first fingerprint is kept)
            return Claimed(token, fingerprint_mismatch=returned[0] != values["fingerprint"])
        found = (
            rows.filter(key=key)
            .values_list("token", "status", "lease_expires_at", "fingerprint")
            .first()
        )
        if found is None:
            continue
        holder, status, held_until, first_fingerprint = found
        mismatch = first_fingerprint != values["fingerprint"]
        if mismatch:
            rows.filter(key=key, fingerprint_mismatch=False).update(fingerprint_mismatch=True)
        if status == _COMPLETED:
            return Completed(mismatch)
        if holder == token:
            # Ours: this call's first try committed, then its connection died before the
            # answer, and `Database.run`'s retry on a fresh one found the claim it made.
            return Claimed(token, fingerprint_mismatch=mismatch)
        held_until = read_time(held_until)
        if held_until > now:
            return InProgress(retry_after(held_until, now), mismatch)
        # Its lease expired since the statement: the next one takes it over.
    return InProgress(retry_after(now, now))


@dataclass(frozen=True)
class _Sql:
    """The store's own statements on one kind of database, formatted once.

    The ORM would compile them again at each call, which costs about as much as a round trip
    to SQLite. Only quoted names of the model's table and columns are formatted in; values are
    parameters.
    """

    claim: str
    """``INSERT … ON CONFLICT (key) DO UPDATE … WHERE <lease expired> RETURNING fingerprint``
    (PostgreSQL and SQLite only): a conflicting row is taken over only while in progress with an
    expired lease; it keeps the fingerprint of its first claim, and notes a different one."""
    complete: str
    renew: str
    release: str


_CLAIM_COLUMNS = (
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
)
_STATEMENTS: dict[str, _Sql] = {}


def _sql(model: type[ReceivedEvent], connection: BaseDatabaseWrapper) -> _Sql:
    """The statements for ``connection``'s kind of database (built on first use)."""
    found = _STATEMENTS.get(connection.vendor)
    if found is not None:
        return found
    opts = model._meta
    quote = connection.ops.quote_name
    c = {field.name: quote(field.column) for field in opts.concrete_fields if field.column}
    t = quote(opts.db_table)
    fenced = f"{c['key']} = %s AND {c['token']} = %s"
    built = _Sql(
        claim=(
            f"INSERT INTO {t} ({', '.join(c[name] for name in _CLAIM_COLUMNS)})"  # noqa: S608
            f" VALUES ({', '.join(['%s'] * len(_CLAIM_COLUMNS))})"
            f" ON CONFLICT ({c['key']}) DO UPDATE SET"
            f" {c['token']} = EXCLUDED.{c['token']},"
            f" {c['lease_expires_at']} = EXCLUDED.{c['lease_expires_at']},"
            f" {c['fingerprint_mismatch']} = {t}.{c['fingerprint_mismatch']}"
            f" OR {t}.{c['fingerprint']} <> EXCLUDED.{c['fingerprint']}"
            f" WHERE {t}.{c['status']} = %s AND {t}.{c['lease_expires_at']} <= %s"
            f" RETURNING {t}.{c['fingerprint']}"
        ),
        complete=f"UPDATE {t} SET {c['status']} = %s, {c['completed_at']} = %s WHERE {fenced}",  # noqa: S608
        renew=f"UPDATE {t} SET {c['lease_expires_at']} = %s WHERE {fenced} AND {c['status']} = %s",  # noqa: S608
        release=f"DELETE FROM {t} WHERE {fenced} AND {c['status']} = %s",  # noqa: S608
    )
    _STATEMENTS[connection.vendor] = built
    return built


def _param(value: Any, connection: BaseDatabaseWrapper) -> Any:
    """A value as the ORM would pass it to ``connection``'s driver (times are adapted)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _claim_portably(
    rows: QuerySet[ReceivedEvent],
    alias: str,
    values: dict[str, str],
    now: datetime,
    lease: timedelta,
) -> ClaimResult:
    """Insert-if-absent, else report the row or take over its expired lease; each step atomic."""
    key, token = values["key"], values["token"]
    db_now, expires = db_time(now), db_time(now + lease)
    for _ in range(3):  # a claim released between our statements is simply claimed again
        with transaction.atomic(using=alias):
            rows.bulk_create(
                [
                    rows.model(
                        **values,
                        status=_IN_PROGRESS,
                        received_at=db_now,
                        lease_expires_at=expires,
                    )
                ],
                ignore_conflicts=True,
            )
            found = (
                rows.filter(key=key)
                .values_list("token", "status", "lease_expires_at", "fingerprint")
                .first()
            )
            if found is None:
                continue
            holder, status, held_until, first_fingerprint = found
            mismatch = first_fingerprint != values["fingerprint"]
            if mismatch:
                rows.filter(key=key, fingerprint_mismatch=False).update(fingerprint_mismatch=True)
            if holder == token:  # tokens are unique: this call's insert made the row
                return Claimed(token)
            if status == _COMPLETED:
                return Completed(mismatch)
            held_until = read_time(held_until)
            if held_until > now:
                return InProgress(retry_after(held_until, now), mismatch)
            # The lease expired (its worker crashed): the one UPDATE that still finds it expired
            # wins; a concurrent taker's UPDATE finds the new lease and changes nothing.
            taken = rows.filter(key=key, status=_IN_PROGRESS, lease_expires_at__lte=db_now).update(
                token=token, lease_expires_at=expires
            )
            if taken == 1:
                return Claimed(token, fingerprint_mismatch=mismatch)
    return InProgress(retry_after(now, now))


def _delete(rows: QuerySet[ReceivedEvent], alias: str) -> int:
    """Delete ``rows`` in one ``DELETE … WHERE`` and return how many went.

    ``QuerySet.delete()`` selects the rows first, then deletes them by key, when any
    ``pre_delete``/``post_delete`` receiver listens to every model (audit libraries do): a lease
    taken over in between would then be deleted. The raw delete is one statement whatever
    listens (and sends no signals).
    """
    return rows._raw_delete(alias)


def _displayable(text: str) -> str:
    """``text`` as a database in any encoding holds it (`ascii_printable`), cut to the column."""
    return ascii_printable(text, _TEXT_LENGTH)
