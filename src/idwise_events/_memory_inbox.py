"""`MemoryInbox`: the inbox in a dict, for tests and the reference for every other inbox."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from ._inbox import (
    LAPSED_ERROR,
    MAX_ERROR_LENGTH,
    Accepted,
    Delivery,
    DeliveryState,
    Taken,
    log_replay,
)
from ._store import Clock, check_lease, utc_now
from ._text import printable

__all__ = ["MemoryInbox"]

_PENDING, _PROCESSING, _DONE, _DEAD = DeliveryState


class MemoryInbox:
    """An [`Inbox`][idwise_events.Inbox] in this process's memory: thread-safe, lost on exit.

    For your tests, and for trying the inbox out: deliveries survive nothing, so production needs
    [`SqlInbox`][idwise_events.inbox.sql.SqlInbox]. It is also the reference the inbox contract
    suite holds every other inbox to.

    Args:
        clock: Returns the current time, timezone-aware; inject a
            [`FakeClock`][idwise_events.testing.FakeClock] in tests.
    """

    blocking = False
    """False: every call returns at once, so async code calls it directly."""

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[int, Delivery] = {}
        self._tokens: dict[int, str] = {}
        self._ids_by_key: dict[str, int] = {}
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"MemoryInbox({len(self._rows)} deliveries)"

    def accept(
        self, *, key: str, event_type: str, event_id: str | None, fingerprint: str, body: bytes
    ) -> Accepted:
        """See [`Inbox.accept`][idwise_events.Inbox.accept]."""
        with self._lock:
            existing = self._ids_by_key.get(key)
            if existing is not None:
                mismatch = self._rows[existing].fingerprint != fingerprint
                return Accepted(existing, duplicate=True, fingerprint_mismatch=mismatch)
            now = self._clock()
            delivery_id = next(self._ids)
            self._rows[delivery_id] = Delivery(
                id=delivery_id,
                key=key,
                event_type=event_type,
                event_id=event_id,
                fingerprint=fingerprint,
                body=bytes(body),
                received_at=now,
                state=_PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_expires_at=None,
                last_error=None,
                finished_at=None,
            )
            self._ids_by_key[key] = delivery_id
            return Accepted(delivery_id, duplicate=False)

    def take(self, delivery_id: int, *, lease: timedelta) -> Taken | None:
        """See [`Inbox.take`][idwise_events.Inbox.take]."""
        check_lease(lease)
        with self._lock:
            row = self._rows.get(delivery_id)
            now = self._clock()
            if row is None or not _is_due(row, now):
                return None
            token = uuid.uuid4().hex
            lapsed = row.state is _PROCESSING
            row = self._update(
                row,
                state=_PROCESSING,
                attempts=row.attempts + 1,
                lease_expires_at=now + lease,
                last_error=LAPSED_ERROR if lapsed else row.last_error,
            )
            self._tokens[delivery_id] = token
            return Taken(row, token)

    def renew(self, delivery_id: int, token: str, *, lease: timedelta) -> bool:
        """See [`Inbox.renew`][idwise_events.Inbox.renew]."""
        check_lease(lease)
        with self._lock:
            row = self._held(delivery_id, token)
            if row is not None:
                self._update(row, lease_expires_at=self._clock() + lease)
            return row is not None

    def complete(self, delivery_id: int, token: str) -> bool:
        """See [`Inbox.complete`][idwise_events.Inbox.complete]."""
        return self._finish(delivery_id, token, _DONE, None)

    def retry(
        self, delivery_id: int, token: str, *, at: datetime, error: str, counted: bool = True
    ) -> bool:
        """See [`Inbox.retry`][idwise_events.Inbox.retry]."""
        with self._lock:
            row = self._held(delivery_id, token)
            if row is None:
                return self._recorded(delivery_id, token, _PENDING)
            self._update(
                row,
                state=_PENDING,
                next_attempt_at=at,
                lease_expires_at=None,
                last_error=printable(error, MAX_ERROR_LENGTH),
                attempts=row.attempts - (0 if counted else 1),
            )
            return True

    def bury(self, delivery_id: int, token: str, *, error: str) -> bool:
        """See [`Inbox.bury`][idwise_events.Inbox.bury]."""
        return self._finish(delivery_id, token, _DEAD, printable(error, MAX_ERROR_LENGTH))

    def due(self, *, older_than: timedelta, limit: int) -> list[int]:
        """See [`Inbox.due`][idwise_events.Inbox.due]."""
        with self._lock:
            now = self._clock()
            return [
                row.id
                for row in self._rows.values()
                if (
                    row.state is _PENDING
                    and row.next_attempt_at is not None
                    and row.next_attempt_at <= now - older_than
                )
                or (row.state is _PROCESSING and _lapsed(row, now))
            ][:limit]

    def replay(self, delivery_id: int) -> bool:
        """See [`Inbox.replay`][idwise_events.Inbox.replay]."""
        with self._lock:
            row = self._rows.get(delivery_id)
            if row is None or row.state not in (_DONE, _DEAD):
                return False
            self._update(
                row,
                state=_PENDING,
                attempts=0,
                next_attempt_at=self._clock(),
                finished_at=None,
                replays=row.replays + 1,
            )
            self._tokens.pop(delivery_id, None)  # its last holder's outcomes are over
        log_replay(delivery_id)
        return True

    def get(self, delivery_id: int) -> Delivery | None:
        """See [`Inbox.get`][idwise_events.Inbox.get]."""
        with self._lock:
            return self._rows.get(delivery_id)

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
        with self._lock:
            rows = sorted(self._rows.values(), key=lambda row: row.id, reverse=True)
        return [
            row
            for row in rows
            if (state is None or row.state == state)
            and (event_type is None or row.event_type == event_type)
            and (since is None or row.received_at >= since)
            and (before_id is None or row.id < before_id)
            and (event_id is None or row.event_id == event_id)
        ][:limit]

    def stats(self) -> dict[DeliveryState, int]:
        """See [`Inbox.stats`][idwise_events.Inbox.stats]."""
        counts = dict.fromkeys(DeliveryState, 0)
        with self._lock:
            for row in self._rows.values():
                counts[row.state] += 1
        return counts

    def purge(self, *, older_than: timedelta, dead: bool = False) -> int:
        """See [`Inbox.purge`][idwise_events.Inbox.purge]."""
        states = (_DONE, _DEAD) if dead else (_DONE,)
        with self._lock:
            cutoff = self._clock() - older_than
            gone = [
                row
                for row in self._rows.values()
                if row.state in states and row.finished_at is not None and row.finished_at < cutoff
            ]
            for row in gone:
                del self._rows[row.id]
                del self._ids_by_key[row.key]
                self._tokens.pop(row.id, None)
        return len(gone)

    # -- internals (called with the lock held) ----------------------------------------------------

    def _held(self, delivery_id: int, token: str) -> Delivery | None:
        row = self._rows.get(delivery_id)
        if row is None or row.state is not _PROCESSING or self._tokens.get(delivery_id) != token:
            return None
        return row

    def _recorded(self, delivery_id: int, token: str, state: DeliveryState) -> bool:
        """Whether ``token`` recorded this outcome already (a second call: as the SQL inboxes)."""
        row = self._rows.get(delivery_id)
        return row is not None and row.state is state and self._tokens.get(delivery_id) == token

    def _finish(
        self, delivery_id: int, token: str, state: DeliveryState, error: str | None
    ) -> bool:
        with self._lock:
            row = self._held(delivery_id, token)
            if row is None:
                return self._recorded(delivery_id, token, state)
            self._update(
                row,
                state=state,
                next_attempt_at=None,
                lease_expires_at=None,
                finished_at=self._clock(),
                last_error=row.last_error if error is None else error,
            )
            return True

    def _update(self, row: Delivery, **changes: Any) -> Delivery:
        row = dataclasses.replace(row, **changes)
        self._rows[row.id] = row
        return row


def _lapsed(row: Delivery, now: datetime) -> bool:
    return row.lease_expires_at is not None and row.lease_expires_at <= now


def _is_due(row: Delivery, now: datetime) -> bool:
    if row.state is _PROCESSING:
        return _lapsed(row, now)
    return row.state is _PENDING and row.next_attempt_at is not None and row.next_attempt_at <= now
