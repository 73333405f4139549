"""The durable inbox: acknowledge a delivery once it is stored, process it later on a worker.

With ``Dispatcher(inbox=...)`` the HTTP side stops after parsing: it *accepts* the delivery (its raw
body, event type, idempotency key and fingerprint) into the inbox in one atomic insert-if-absent,
which is also the idempotency claim, and answers 200. A worker (a Celery task, a PostgreSQL
queue's job, or the embedded worker on SQLite) then *takes* the delivery by its id with a lease and
a fencing token, runs the handlers, and *completes* it; a failure schedules a *retry* with backoff,
and after the last attempt the delivery is *dead* (a dead letter), kept with its last error until
replayed.

Jobs carry only the delivery's id, and taking it is atomic, so a job that an engine delivers twice
runs the handlers once; a periodic sweep finds accepted deliveries whose job was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol, TypeVar, runtime_checkable

from ._text import ascii_printable, printable

_T = TypeVar("_T")

__all__ = ["Accepted", "Delivery", "DeliveryState", "Inbox", "Taken"]

logger = logging.getLogger("idwise_events")

MAX_ERROR_LENGTH = 2000
"""The longest ``last_error`` an inbox keeps (what is longer is cut, with an ellipsis)."""
MAX_LABEL_LENGTH = 255
"""The longest event type or event id an inbox keeps as a label (the body keeps the original)."""

LAPSED_ERROR = (
    "the previous attempt ended without an outcome: its worker died (killed, out of memory) or"
    " its lease lapsed"
)
"""The ``last_error`` that `Inbox.take` records when it takes over a lapsed lease."""
TAKE_RECORDED = (
    "inbox delivery %s: a take that timed out had been recorded by the database after all;"
    " it is given back (its attempt not counted), so a worker takes it again"
)
"""The warning when a take whose answer was lost is found and given back (`stores._unsure`)."""


class DeliveryState(str, Enum):
    """Where a delivery stands in the inbox."""

    PENDING = "pending"
    """Waiting for a worker: new, or failed and waiting for its next attempt."""
    PROCESSING = "processing"
    """A worker holds it under a lease; if the lease lapses, the delivery may be taken again."""
    DONE = "done"
    """Every handler returned."""
    DEAD = "dead"
    """Every attempt failed: kept with the last error until replayed or purged."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted delivery, as the inbox keeps it."""

    id: int
    """The inbox's id for it: all a job carries."""
    key: str
    """The event's idempotency key (its ``eventId``, or a digest of a legacy payload's body)."""
    event_type: str
    """The envelope's ``event`` as sent (an unknown name is kept as it is)."""
    event_id: str | None
    """The ``eventId``, when the payload has one."""
    fingerprint: str
    """The SHA-256 of the raw body, in hex."""
    body: bytes
    """The raw body as received, parsed again by the worker."""
    received_at: datetime
    """When it was accepted (timezone-aware, UTC)."""
    state: DeliveryState
    attempts: int
    """How many times a worker has taken it since it was accepted or last replayed (a worker
    that died mid-handler counts)."""
    next_attempt_at: datetime | None
    """When a pending delivery becomes due (``None`` for done and dead ones)."""
    lease_expires_at: datetime | None
    """When a processing delivery's lease lapses."""
    last_error: str | None
    """The last failure, as ``"ExceptionType: message"`` (never the body)."""
    finished_at: datetime | None
    """When it became done or dead."""
    replays: int = 0
    """How many times it was replayed on purpose."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What `Inbox.accept` returns."""

    id: int
    """The delivery's id (the existing one for a duplicate)."""
    duplicate: bool
    """True when the key was in the inbox already: nothing was written."""
    fingerprint_mismatch: bool = False
    """True for a duplicate whose body differs from the one accepted first."""


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery a worker holds: run its handlers, then complete, retry or bury it."""

    delivery: Delivery
    token: str
    """The fencing token: only it can renew, complete, retry or bury this hold."""


@runtime_checkable
class Inbox(Protocol):
    """Where deliveries are accepted, taken by workers and kept (synchronous).

    Every method raises [`StoreError`][idwise_events.StoreError] when the backend is
    unavailable, and nothing else; a lease outside (0, 1 day] raises ``ValueError``.
    """

    blocking: bool
    """Whether calls may wait on I/O (async code runs them in a worker thread)."""

    def accept(
        self, *, key: str, event_type: str, event_id: str | None, fingerprint: str, body: bytes
    ) -> Accepted:
        """Store a new delivery as pending, atomically; a key already there is a duplicate."""
        ...

    def take(self, delivery_id: int, *, lease: timedelta) -> Taken | None:
        """Hold a due pending delivery (or one whose lease lapsed), counting an attempt.

        ``None`` when it is not to be processed now: done, dead, held under a live lease, not
        yet due, or unknown. One atomic conditional update: two workers never both hold it.
        Taking over a lapsed lease records `LAPSED_ERROR` as the last error: that attempt left
        no trace of its own.
        """
        ...

    def renew(self, delivery_id: int, token: str, *, lease: timedelta) -> bool:
        """Extend a hold to now + ``lease``; False if ``token`` no longer holds it."""
        ...

    def complete(self, delivery_id: int, token: str) -> bool:
        """Mark the delivery done; False if ``token`` no longer holds it.

        Like `retry` and `bury`, it says True again when called again with the same token
        once it is recorded: a worker tries again after an answer it did not get.
        """
        ...

    def retry(
        self, delivery_id: int, token: str, *, at: datetime, error: str, counted: bool = True
    ) -> bool:
        """Give the delivery back as pending, due ``at``, keeping ``error``; False if not held.

        ``counted=False``: this attempt is not counted (its worker was stopped; the handlers did
        not fail), so a delivery given back at each deploy does not run out of attempts.
        """
        ...

    def bury(self, delivery_id: int, token: str, *, error: str) -> bool:
        """Mark the delivery dead with its last ``error``; False if ``token`` no longer holds it."""
        ...

    def due(self, *, older_than: timedelta, limit: int) -> list[int]:
        """Ids of deliveries that should be running and may have lost their job.

        Pending ones due for longer than ``older_than``, and processing ones whose lease lapsed,
        oldest first, at most ``limit``: what a periodic sweep enqueues again.
        """
        ...

    def replay(self, delivery_id: int) -> bool:
        """Make a done or dead delivery pending again, due now, counting a replay.

        Its attempts start again from zero (its last error is kept until the next one), and the
        replay is logged (call `log_replay`). False if it is unknown, pending or processing.
        """
        ...

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery with this id, or ``None``."""
        ...

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
        """Deliveries matching the filters, newest (highest id) first.

        ``event_id``: only the deliveries of that ``eventId`` (the one IDWise support quotes).

        ``before_id``: only those with a lower id. To page through more than ``limit``, pass
        the last id of a page for the next one: a page never repeats a delivery, even when the
        deliveries change state meanwhile (a replayed dead letter that dies again).
        """
        ...

    def stats(self) -> dict[DeliveryState, int]:
        """How many deliveries are in each state (every state present, zeros included)."""
        ...

    def purge(self, *, older_than: timedelta, dead: bool = False) -> int:
        """Delete done deliveries finished before ``older_than`` ago (dead ones too if ``dead``).

        Their keys are forgotten: a later delivery of the same event is new again. Returns how
        many were deleted.
        """
        ...


def stored_label(text: str) -> str:
    """An event type or id as an inbox stores it: printable ASCII, and it fits its column.

    ASCII, so that a database in any encoding holds it (the sender chooses it).
    """
    return ascii_printable(text, MAX_LABEL_LENGTH)


def stored_error(store: Callable[[str], _T], error: str) -> _T:
    """Call ``store`` with ``error`` as a ``last_error`` (`printable`, capped), as is if it can.

    A database in another encoding than UTF-8 may refuse some of its characters (a
    ``ValueError``): then it is stored again in ASCII, rather than lose the outcome it records.
    """
    text = printable(error, MAX_ERROR_LENGTH)
    try:
        return store(text)
    except ValueError:
        if text.isascii():
            raise
        return store(ascii_printable(text, MAX_ERROR_LENGTH))


replaying: ContextVar[bool] = ContextVar("idwise_events_replaying", default=False)
"""True while `Dispatcher.replay` calls the on_accepted hooks: an operator's action (a command,
the admin, a script), not a delivery on a server's request path."""


def log_replay(delivery_id: int) -> None:
    """The one log record of a replay, which every inbox writes when `Inbox.replay` succeeds."""
    logger.info(
        "inbox delivery %d replayed on purpose: its handlers will run again",
        delivery_id,
        extra={"delivery_id": delivery_id, "replayed": True},
    )
