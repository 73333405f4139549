"""`DjangoInbox`: the durable inbox on the Django ORM, in the project's own database.

```python
from idwise_events.contrib.django.inbox import DjangoInbox

inbox = DjangoInbox()                    # the database Django's routers pick for writes
inbox = DjangoInbox(using="events")      # or a database alias of your settings
```

The app builds its dispatcher with one when ``IDWISE_EVENTS["INBOX"]`` is ``True``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Case, Count, F, Q, TextField, Value, When

from ..._errors import StoreError
from ..._inbox import (
    LAPSED_ERROR,
    TAKE_RECORDED,
    Accepted,
    Delivery,
    DeliveryState,
    Taken,
    log_replay,
    stored_error,
    stored_label,
)
from ..._store import Clock, check_lease, utc_now
from ...stores._keys import stored_fingerprint, stored_key
from ...stores._unsure import UnsureClaims
from ...stores._watchdog import PURGE_LIMIT
from ._database import Database, db_time, read_time

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from .models import InboxDelivery

__all__ = ["DjangoInbox"]

_T = TypeVar("_T")
_PENDING, _PROCESSING, _DONE, _DEAD = (state.value for state in DeliveryState)


class DjangoInbox:
    """An [`Inbox`][idwise_events.Inbox] in the project's database, through the ORM.

    Each delivery is an [`InboxDelivery`][idwise_events.contrib.django.models.InboxDelivery]
    row, with the semantics of [`SqlInbox`][idwise_events.inbox.sql.SqlInbox]: accepting is an
    insert-if-absent on the unique key; taking is one conditional ``UPDATE`` (two workers never
    both hold a delivery), then a read of the row marked with the new fencing token; renewing,
    completing, retrying and burying are single ``UPDATE``s fenced by the token. Each call
    commits on its own: call it outside ``transaction.atomic`` (the app's view runs outside
    ``ATOMIC_REQUESTS``). Times are compared with the app's clock, as `DjangoStore` does.

    Args:
        using: The database alias; by default, the one ``DATABASE_ROUTERS`` give for writing
            `InboxDelivery` (``"default"`` without routers). Every call reads and writes there.
        network_timeout: PostgreSQL: the longest a call waits for the server's answer before its
            connection is cut (a frozen network, a failover, a hung pooler).
        clock: Returns the current time, timezone-aware; inject one in tests.

    Raises:
        ValueError: If ``network_timeout`` is not positive.
    """

    blocking = True
    """True: calls wait on the database, so async code runs them in a thread."""

    def __init__(
        self,
        *,
        using: str | None = None,
        network_timeout: timedelta = timedelta(seconds=10),
        clock: Clock = utc_now,
    ) -> None:
        if network_timeout <= timedelta(0):
            raise ValueError(f"network_timeout must be more than zero, not {network_timeout}")
        self.using = using
        self.network_timeout = network_timeout
        self._database = Database("inbox", network_timeout)
        self._clock = clock
        # Takes that PostgreSQL may record after their answer was lost: given back when it can
        # (the thread that does so closes the connections it opened as it ends).
        self._unsure = UnsureClaims(
            self._give_back_unsure, finished=connections.close_all, recorded=TAKE_RECORDED
        )

    def __repr__(self) -> str:
        return f"DjangoInbox(using={self.using!r})"

    def accept(
        self, *, key: str, event_type: str, event_id: str | None, fingerprint: str, body: bytes
    ) -> Accepted:
        """See [`Inbox.accept`][idwise_events.Inbox.accept]."""
        now = db_time(self._clock())
        values: dict[str, Any] = {
            "key": stored_key(key),
            "event_type": stored_label(event_type),
            "event_id": None if event_id is None else stored_label(event_id),
            "fingerprint": stored_fingerprint(fingerprint),
            "body": bytes(body),
            "received_at": now,
            "state": _PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "replays": 0,
            # Marks this call's insert (a take replaces it): see the lookup below.
            "token": uuid.uuid4().hex,
        }

        def accept(rows: QuerySet[InboxDelivery], alias: str) -> Accepted | None:
            try:
                # A savepoint, so that a duplicate leaves a caller's transaction usable.
                with transaction.atomic(using=alias):
                    return Accepted(rows.create(**values).pk, duplicate=False)
            except IntegrityError:
                pass  # the key is there: a duplicate
            found = rows.filter(key=values["key"]).values_list("id", "fingerprint", "token").first()
            if found is None:
                return None  # purged between the two statements: insert again
            existing, first_fingerprint, marker = found
            if marker == values["token"]:
                # This call's own insert: it committed, then its connection died before the
                # answer, and `Database.run` tried again on a fresh one. Not a duplicate: its
                # job is still to be enqueued.
                return Accepted(existing, duplicate=False)
            mismatch = first_fingerprint != values["fingerprint"]
            return Accepted(existing, duplicate=True, fingerprint_mismatch=mismatch)

        for _ in range(3):
            accepted = self._run(accept)
            if accepted is not None:
                return accepted
        raise StoreError("django inbox: the key was purged and re-added while accepting")

    def take(self, delivery_id: int, *, lease: timedelta) -> Taken | None:
        """See [`Inbox.take`][idwise_events.Inbox.take]."""
        check_lease(lease)
        now = db_time(self._clock())
        token = uuid.uuid4().hex
        due = Q(state=_PENDING, next_attempt_at__lte=now) | Q(
            state=_PROCESSING, lease_expires_at__lte=now
        )

        def take(rows: QuerySet[InboxDelivery], alias: str) -> Taken | None:
            rows.filter(due, id=delivery_id).update(
                # First: it reads the state before the update (MySQL sets in this order).
                last_error=Case(
                    When(state=_PROCESSING, then=Value(LAPSED_ERROR)),
                    default=F("last_error"),
                    output_field=TextField(),
                ),
                state=_PROCESSING,
                token=token,
                attempts=F("attempts") + 1,
                lease_expires_at=now + lease,
            )
            # The token is new: the row it marks is the one this call took. Found when the
            # update took nothing, it is the take of this call's first try, whose answer was
            # lost (its connection died, and `Database.run` tried again on a fresh one).
            row = rows.filter(id=delivery_id, token=token, state=_PROCESSING).first()
            return None if row is None else Taken(_delivery(row), token)

        self._unsure.settle(str(delivery_id))
        try:
            return self._run(take)
        except StoreError:
            if connections[self._alias()].vendor != "sqlite":  # (a file: a failure did not run)
                # No answer is not no take: the server may record it still (see `_unsure`).
                self._unsure.add(str(delivery_id), token, lease.total_seconds())
            raise

    def _give_back_unsure(self, delivery_id: str, token: str) -> bool:
        """Give back a take recorded after its answer was lost, its attempt not counted."""
        return self._update_held(
            int(delivery_id),
            token,
            state=_PENDING,
            next_attempt_at=db_time(self._clock()),
            lease_expires_at=None,
            attempts=F("attempts") - 1,
        )

    def renew(self, delivery_id: int, token: str, *, lease: timedelta) -> bool:
        """See [`Inbox.renew`][idwise_events.Inbox.renew]."""
        check_lease(lease)
        return self._update_held(
            delivery_id, token, lease_expires_at=db_time(self._clock() + lease)
        )

    def complete(self, delivery_id: int, token: str) -> bool:
        """See [`Inbox.complete`][idwise_events.Inbox.complete]."""
        return self._record_outcome(
            delivery_id,
            token,
            state=_DONE,
            next_attempt_at=None,
            lease_expires_at=None,
            finished_at=db_time(self._clock()),
        )

    def retry(
        self, delivery_id: int, token: str, *, at: datetime, error: str, counted: bool = True
    ) -> bool:
        """See [`Inbox.retry`][idwise_events.Inbox.retry]."""
        return stored_error(
            lambda last_error: self._record_outcome(
                delivery_id,
                token,
                state=_PENDING,
                next_attempt_at=db_time(at),
                lease_expires_at=None,
                last_error=last_error,
                **({} if counted else {"attempts": F("attempts") - 1}),
            ),
            error,
        )

    def bury(self, delivery_id: int, token: str, *, error: str) -> bool:
        """See [`Inbox.bury`][idwise_events.Inbox.bury]."""
        return stored_error(
            lambda last_error: self._record_outcome(
                delivery_id,
                token,
                state=_DEAD,
                next_attempt_at=None,
                lease_expires_at=None,
                finished_at=db_time(self._clock()),
                last_error=last_error,
            ),
            error,
        )

    def due(self, *, older_than: timedelta, limit: int) -> list[int]:
        """See [`Inbox.due`][idwise_events.Inbox.due]."""
        now = self._clock()
        stale = Q(state=_PENDING, next_attempt_at__lte=db_time(now - older_than)) | Q(
            state=_PROCESSING, lease_expires_at__lte=db_time(now)
        )
        return self._run(
            lambda rows, alias: list(
                rows.filter(stale).order_by("id").values_list("id", flat=True)[:limit]
            )
        )

    def replay(self, delivery_id: int) -> bool:
        """See [`Inbox.replay`][idwise_events.Inbox.replay]."""
        now = db_time(self._clock())

        def replay(rows: QuerySet[InboxDelivery], alias: str) -> bool:
            replayed: int = rows.filter(id=delivery_id, state__in=[_DONE, _DEAD]).update(
                state=_PENDING,
                attempts=0,
                next_attempt_at=now,
                finished_at=None,
                replays=F("replays") + 1,
                token=None,  # its last holder's outcomes are over: none says True again
            )
            return replayed == 1

        replayed = self._run(replay)
        if replayed:
            log_replay(delivery_id)
        return replayed

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the caller's transaction on this database commits.

        At once outside a transaction; never if it rolls back. `Dispatcher.replay` enqueues
        through it, since a replay made inside ``ATOMIC_REQUESTS`` (the admin's action, a view)
        is not seen by the workers until then.
        """
        from .models import InboxDelivery

        transaction.on_commit(callback, using=self.using or router.db_for_write(InboxDelivery))

    def get(self, delivery_id: int) -> Delivery | None:
        """See [`Inbox.get`][idwise_events.Inbox.get]."""
        row = self._run(lambda rows, alias: rows.filter(id=delivery_id).first())
        return None if row is None else _delivery(row)

    def deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
        event_id: str | None = None,
    ) -> list[Delivery]:
        """See [`Inbox.deliveries`][idwise_events.Inbox.deliveries]."""
        filters = Q()
        if state is not None:
            filters &= Q(state=DeliveryState(state).value)
        if event_type is not None:
            filters &= Q(event_type=stored_label(event_type))
        if since is not None:
            filters &= Q(received_at__gte=db_time(since))
        if before_id is not None:
            filters &= Q(id__lt=before_id)
        if event_id is not None:
            filters &= Q(event_id=stored_label(event_id))
        found = self._run(lambda rows, alias: list(rows.filter(filters).order_by("-id")[:limit]))
        return [_delivery(row) for row in found]

    def stats(self) -> dict[DeliveryState, int]:
        """See [`Inbox.stats`][idwise_events.Inbox.stats]."""
        counted = self._run(
            lambda rows, alias: list(
                rows.order_by().values_list("state").annotate(count=Count("id"))
            )
        )
        counts = dict.fromkeys(DeliveryState, 0)
        for state, count in counted:
            counts[DeliveryState(state)] = count
        return counts

    def purge(self, *, older_than: timedelta, dead: bool = False) -> int:
        """See [`Inbox.purge`][idwise_events.Inbox.purge]."""
        states = [_DONE, _DEAD] if dead else [_DONE]
        cutoff = db_time(self._clock() - older_than)

        # One DELETE … WHERE, whatever listens to delete signals (see DjangoStore's purge).
        def purge(rows: QuerySet[InboxDelivery], alias: str) -> int:
            deleted: int = rows.filter(state__in=states, finished_at__lt=cutoff)._raw_delete(alias)
            return deleted

        return self._run(purge, PURGE_LIMIT)

    # -- internals ------------------------------------------------------------------------------

    def _update_held(
        self, delivery_id: int, token: str, *, outcome: bool = False, **values: Any
    ) -> bool:
        """One fenced update: only while ``token`` holds the delivery (processing).

        ``outcome``: an earlier try may have recorded it already. That try committed, then its
        connection died before the answer (`Database.run` tried again on a fresh one), or the
        worker tries again after a `StoreError`: the delivery in the outcome's state under
        ``token`` is then this outcome recorded, not a lease lost.
        """

        def update(rows: QuerySet[InboxDelivery], alias: str) -> bool:
            held = rows.filter(id=delivery_id, token=token, state=_PROCESSING)
            if held.update(**values) == 1:
                return True
            if not outcome:
                return False
            recorded: bool = rows.filter(
                id=delivery_id, token=token, state=values["state"]
            ).exists()
            return recorded

        return self._run(update)

    def _record_outcome(self, delivery_id: int, token: str, **values: Any) -> bool:
        """`_update_held` for an outcome, which an earlier try may have recorded already."""
        return self._update_held(delivery_id, token, outcome=True, **values)

    def _run(
        self, operation: Callable[[QuerySet[InboxDelivery], str], _T], limit: float | None = None
    ) -> _T:
        """Run ``operation`` on this inbox's database; its failures become StoreError.

        ``limit``: the seconds it may take, if not ``network_timeout`` (a purge's).
        """
        from .models import InboxDelivery  # not at import: the app registry may not be ready

        alias = self._alias()
        rows = InboxDelivery.objects.using(alias)
        return self._database.run(alias, lambda: operation(rows, alias), limit)

    def _alias(self) -> str:
        from .models import InboxDelivery

        return self.using or router.db_for_write(InboxDelivery)


def _optional_time(value: datetime | None) -> datetime | None:
    return None if value is None else read_time(value)


def _delivery(row: InboxDelivery) -> Delivery:
    return Delivery(
        id=row.id,
        key=row.key,
        event_type=row.event_type,
        event_id=row.event_id,
        fingerprint=row.fingerprint,
        body=bytes(row.body),
        received_at=read_time(row.received_at),
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=_optional_time(row.next_attempt_at),
        lease_expires_at=_optional_time(row.lease_expires_at),
        last_error=row.last_error,
        finished_at=_optional_time(row.finished_at),
        replays=row.replays,
    )
