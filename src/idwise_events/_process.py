"""The worker side of the inbox: process one delivery by its id, retry with backoff, sweep.

Every engine runs the same function: a Celery task, a PostgreSQL queue's job and the embedded
worker all call `process` (or `process_async`) with the delivery's id. It takes the delivery
with the dispatcher's lease, runs the handlers while renewing the lease, then completes it, or
schedules a retry with exponential backoff and full jitter, or, after the last attempt, buries
it as a dead letter. A job delivered twice finds the delivery taken or done: it is *skipped*.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from ._async_store import (
    HandlerThread,
    after,
    finished_even_if_cancelled,
    given_back_if_cancelled,
    to_thread,
)
from ._errors import PayloadError, StoreError
from ._events import Event
from ._inbox import MAX_ERROR_LENGTH, MAX_LABEL_LENGTH, Inbox, Taken, replaying
from ._leases import Hold, hold
from ._parse import parse_event
from ._store import Clock, utc_now
from ._text import error_line, printable

if TYPE_CHECKING:
    from ._dispatch import Dispatcher

__all__ = ["ProcessOutcome", "RetryPolicy", "process", "process_async", "sweep"]

logger = logging.getLogger("idwise_events")

_T = TypeVar("_T")


class ProcessOutcome(str, Enum):
    """What `process` did with a delivery."""

    DONE = "done"
    """Every handler returned: the delivery is done."""
    RETRIED = "retried"
    """A handler raised: the delivery is pending again, due after the policy's delay."""
    DEAD = "dead"
    """The last attempt failed, or the body can never be parsed: the delivery is a dead letter."""
    SKIPPED = "skipped"
    """Nothing to do now: done, dead, held by another worker, not yet due, or unknown."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed delivery is tried again: exponential backoff, full jitter.

    After attempt ``n`` fails, the next one is due after a random delay between zero and
    ``min(max_delay, first_delay * 2 ** (n - 1))`` (full jitter spreads the retries of many
    deliveries that failed together, such as during an outage of the service a handler calls).
    After ``max_attempts`` failures the delivery is dead; an attempt whose worker died (killed,
    out of memory) counts as one, so a delivery that kills its worker every time ends dead too.

    Args:
        max_attempts: How many times the handlers may run for one delivery (at least 1).
        first_delay: The ceiling of the first delay; it doubles after each failure.
        max_delay: The highest ceiling.

    Raises:
        ValueError: If ``max_attempts`` is below 1, a delay is not positive, or ``max_delay``
            is shorter than ``first_delay``.
    """

    max_attempts: int = 8
    first_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)

    def __init__(
        self,
        *,
        max_attempts: int = 8,
        first_delay: timedelta = timedelta(seconds=10),
        max_delay: timedelta = timedelta(hours=1),
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise TypeError("RetryPolicy: max_attempts must be an int")
        if max_attempts < 1:
            raise ValueError(f"RetryPolicy: max_attempts must be at least 1, not {max_attempts}")
        for name, delay in (("first_delay", first_delay), ("max_delay", max_delay)):
            if not isinstance(delay, timedelta):
                raise TypeError(f"RetryPolicy: {name} must be a timedelta")
            if delay <= timedelta(0):
                raise ValueError(f"RetryPolicy: {name} must be more than zero, not {delay}")
        if max_delay < first_delay:
            raise ValueError(
                f"RetryPolicy: max_delay ({max_delay}) is shorter than first_delay ({first_delay})"
            )
        object.__setattr__(self, "max_attempts", max_attempts)
        object.__setattr__(self, "first_delay", first_delay)
        object.__setattr__(self, "max_delay", max_delay)

    def delay(self, attempt: int) -> timedelta:
        """How long to wait after failed attempt number ``attempt`` (1 for the first)."""
        ceiling = self.max_delay.total_seconds()
        first = self.first_delay.total_seconds()
        doublings = max(0, attempt - 1)
        # Doubling stops once past the ceiling: 2 ** 1000 would overflow a float.
        if doublings < 64:
            ceiling = min(ceiling, first * 2**doublings)
        return timedelta(seconds=random.uniform(0, ceiling))  # noqa: S311 -- jitter, not a secret


DEFAULT_RETRIES = RetryPolicy()
"""The policy `process` uses unless given one: 8 attempts over about four hours at most."""

_RECORD_WAITS = (0.2, 0.5, 1.0, 2.0)
"""Seconds between tries to record an outcome in an unavailable inbox; 2 s from the fourth."""

_STOPPED_UNRECORDED = "has no outcome recorded: the worker stopped before trying again"

_phase = threading.local()
"""``interruptible`` is true while `process` may be interrupted in this thread (see below)."""


def interruptible() -> bool:
    """Whether `process` may be interrupted in this thread without running handlers twice.

    True while it runs a delivery's handlers (an interruption gives the delivery back), and
    while it waits to try again to record an outcome the inbox is unavailable for (the delivery
    is held until its lease lapses either way). A worker interrupts a delivery only then: an
    interruption while it is taken or settled would leave it held, and handlers that had
    finished would run again once the lease lapsed.
    """
    return getattr(_phase, "interruptible", False)


def process(
    dispatcher: Dispatcher,
    delivery_id: int,
    *,
    retries: RetryPolicy = DEFAULT_RETRIES,
    clock: Clock = utc_now,
) -> ProcessOutcome:
    """Process the inbox delivery ``delivery_id`` with ``dispatcher``'s handlers, once.

    Takes the delivery with the dispatcher's lease (``SKIPPED`` if it is not to run now), parses
    its body, and runs the handlers (`Dispatcher.dispatch`) while a thread renews the lease every
    third of it. Then the delivery is completed (``DONE``); or, if a handler raised, retried
    later (``RETRIED``) or, at the policy's last attempt, buried as a dead letter (``DEAD``), with
    the error as ``"ExceptionType: message"``. A body that cannot be parsed is buried at once.

    If the worker is stopped while the handlers run (``KeyboardInterrupt``, ``SystemExit``), the
    delivery is given back, due now, and the exception propagates. If the inbox cannot record
    the outcome, it is tried again, 0.2 to 2 s apart, while the lease last taken or renewed
    holds: the delivery is still this worker's, and its handlers ran.

    Args:
        dispatcher: The dispatcher whose ``inbox`` holds the delivery and whose handlers run.
        delivery_id: The id `Inbox.accept` gave (all a job carries).
        retries: When to try a failed delivery again, and how many times.
        clock: The current time, timezone-aware (the one the inbox compares with).

    Raises:
        StoreError: If the inbox is unavailable (to take the delivery, or to record its
            outcome until the lease lapsed): let the engine retry the job.
        TypeError: If the dispatcher has no inbox.
    """
    inbox = _inbox_of(dispatcher)
    started = time.perf_counter()
    lease = dispatcher.lease
    taken = inbox.take(delivery_id, lease=lease)
    if taken is None:
        return _skipped(inbox, delivery_id, _found(inbox, delivery_id))
    job = _Job(taken, lease, retries, clock, started)
    event = job.event(dispatcher.max_body_bytes)
    if event is None:
        return job.finish(inbox.bury(delivery_id, taken.token, error=job.error or ""))
    failure: Exception | None = None
    renewer = _hold(inbox, job, taken.token, lease)
    try:
        _phase.interruptible = True
        dispatcher.dispatch(event)
    except Exception as exc:
        failure = exc
    except BaseException as stop:
        _phase.interruptible = False
        renewer.stop()
        _give_back(inbox, job, taken.token, given_back(job.clock(), stop))
        raise
    finally:
        _phase.interruptible = False
        renewer.stop()
    method, arguments = job.settle(failure)
    record = getattr(inbox, method)
    while True:
        try:
            held = record(delivery_id, taken.token, **arguments)
        except StoreError as unavailable:
            wait = job.unrecorded(unavailable)
            try:
                _phase.interruptible = True
                time.sleep(wait)
            except BaseException:
                job.held_until_its_lease_lapses(_STOPPED_UNRECORDED)
                raise
            finally:
                _phase.interruptible = False
        else:
            return job.finish(held)


async def process_async(
    dispatcher: Dispatcher,
    delivery_id: int,
    *,
    retries: RetryPolicy = DEFAULT_RETRIES,
    clock: Clock = utc_now,
) -> ProcessOutcome:
    """`process` from async code: handlers run by `Dispatcher.dispatch_async`.

    A blocking inbox's calls run in a worker thread and the lease is renewed as in `process`; a
    cancelled task (``asyncio.CancelledError``) gives the delivery back, as a stopped worker does.
    """
    inbox = _inbox_of(dispatcher)
    started = time.perf_counter()
    lease = dispatcher.lease
    taken = await _take(inbox, delivery_id, lease, clock)
    if taken is None:
        found = await _call(inbox, _found, inbox, delivery_id)
        return _skipped(inbox, delivery_id, found)
    job = _Job(taken, lease, retries, clock, started)
    event = job.event(dispatcher.max_body_bytes)
    if event is None:
        bury = inbox.bury
        return job.finish(await _call(inbox, bury, delivery_id, taken.token, error=job.error or ""))
    failure: Exception | None = None
    renewer = _hold(inbox, job, taken.token, lease)
    thread = HandlerThread()  # a plain handler's, which goes on if this task is cancelled
    try:
        await dispatcher._dispatch_async(event, thread)
    except Exception as exc:
        renewer.stop()
        failure = exc
    except BaseException as stop:
        arguments = given_back(job.clock(), stop)

        def give_back() -> None:
            renewer.stop()
            _give_back(inbox, job, taken.token, arguments)

        running = thread.unfinished
        if running is not None:  # the thread goes on, the lease renewed until it ends
            after(running, lambda: _call(inbox, give_back))
        else:
            await finished_even_if_cancelled(_call(inbox, give_back), give_back)
        raise
    else:
        renewer.stop()
    method, arguments = job.settle(failure)
    record = getattr(inbox, method)
    while True:
        try:
            held = await _call(inbox, record, delivery_id, taken.token, **arguments)
        except StoreError as unavailable:
            import asyncio  # loaded already: this runs in async code

            try:
                await asyncio.sleep(job.unrecorded(unavailable))
            except BaseException:
                job.held_until_its_lease_lapses(_STOPPED_UNRECORDED)
                raise
        else:
            return job.finish(held)


def sweep(
    inbox: Inbox,
    enqueue: Callable[[int], object],
    *,
    older_than: timedelta = timedelta(minutes=1),
    limit: int = 500,
) -> int:
    """Enqueue again the deliveries that should be running and may have lost their job.

    Run it periodically from the engine's scheduler (Celery beat, the queue's periodic tasks):
    ``enqueue(id)`` is called for each of `Inbox.due` (pending for longer than ``older_than``,
    or held under a lapsed lease). A delivery enqueued twice is processed once. Returns how many
    were enqueued, not counting those for which ``enqueue`` returned ``False`` (their job was
    queued already); an exception of ``enqueue`` propagates (the next sweep tries again).
    """
    ids = inbox.due(older_than=older_than, limit=limit)
    return sum(enqueue(delivery_id) is not False for delivery_id in ids)


def enqueued_after_accept(
    enqueue: Callable[[], object],
    delivery_id: int,
    *,
    job: str,
    then: str,
    every: timedelta,
    away: tuple[type[BaseException], ...],
) -> None:
    """An engine's enqueue after an accept: a failure is a warning, the sweep the backstop.

    The delivery is stored, so its answer stands; the warning names it, says that the ``job``
    failed and what ``then`` happens, the sweep running ``every``. It is one line when the
    error is one of ``away`` (the broker or database gone, which every delivery says during an
    outage), and has its traceback otherwise. A replay is told: the error propagates.
    """
    try:
        enqueue()
    except Exception as error:
        if replaying.get():
            raise  # a replay reports it itself (the command exits 1, the admin says so)
        logger.warning(
            "inbox delivery %d is stored, but its %s (%s); %s (it runs every %g s)",
            delivery_id,
            job,
            printable(error_line(error), 400),
            then,
            every.total_seconds(),
            exc_info=None if isinstance(error, away) else error,
            extra={"delivery_id": delivery_id},
        )


def periodic_sweep(inbox: Inbox, enqueue: Callable[[int], object], *, every: timedelta) -> int:
    """`sweep` as an engine's periodic task runs it, every ``every``.

    An unavailable inbox is a one-line warning rather than a failed task with its traceback at
    each tick of an outage: the next sweep tries again.
    """
    try:
        return sweep(inbox, enqueue, older_than=every)
    except StoreError as unavailable:
        logger.warning(
            "the sweep could not read the inbox (%s); the next one, in %g s, tries again",
            unavailable,
            every.total_seconds(),
        )
        return 0


# -- internals ---------------------------------------------------------------------------------


def _inbox_of(dispatcher: Dispatcher) -> Inbox:
    inbox = dispatcher.inbox
    if inbox is None:
        raise TypeError(
            "this dispatcher has no inbox: create it with Dispatcher(inbox=...) (the Django"
            ' app\'s: set IDWISE_EVENTS["INBOX"] = True)'
        )
    return inbox


def engine_inbox(dispatcher: Dispatcher, engine: str) -> Inbox:
    """The inbox an engine's ``install`` serves, with a warning if its workers cannot see it.

    A `MemoryInbox` lives in one process: an engine's workers, in processes of their own,
    would find none of its deliveries (each job skipped, each event acknowledged and lost).

    Raises:
        TypeError: If the dispatcher has no inbox.
    """
    inbox = _inbox_of(dispatcher)
    from ._memory_inbox import MemoryInbox

    if isinstance(inbox, MemoryInbox):
        logger.warning(
            "%s runs the inbox's jobs in its workers' processes, and a MemoryInbox is per"
            " process: they will not find the deliveries this process accepts (only workers"
            " in this very process would, such as Celery's task_always_eager). Use SqlInbox,"
            " on the same database for the web side and the workers.",
            engine,
        )
    return inbox


async def _take(inbox: Inbox, delivery_id: int, lease: timedelta, clock: Clock) -> Taken | None:
    """Take the delivery; if cancelled while a worker thread takes it, give it back after."""
    if not inbox.blocking:
        return inbox.take(delivery_id, lease=lease)

    def give_back(taken: Taken | None) -> Awaitable[bool] | None:
        if taken is None:
            return None
        import asyncio  # loaded already: this runs in async code

        back = given_back(clock(), asyncio.CancelledError())
        return to_thread(inbox.retry, delivery_id, taken.token, **back)

    taking = to_thread(inbox.take, delivery_id, lease=lease)
    return await given_back_if_cancelled(taking, give_back)


async def _call(inbox: Inbox, method: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call an inbox method from async code: in a worker thread if the inbox blocks."""
    if inbox.blocking:
        return await to_thread(method, *args, **kwargs)
    return method(*args, **kwargs)


def _found(inbox: Inbox, delivery_id: int) -> bool:
    """Whether the inbox has the delivery (True if it cannot say: only a sure absence warns)."""
    try:
        return inbox.get(delivery_id) is not None
    except StoreError:
        return True


def _skipped(inbox: Inbox, delivery_id: int, found: bool) -> ProcessOutcome:
    extra = {"delivery_id": delivery_id, "outcome": ProcessOutcome.SKIPPED.value}
    if found:
        logger.debug(
            "inbox delivery %d skipped (done, dead, held or not due)", delivery_id, extra=extra
        )
    else:
        # Accepted elsewhere: the web side's inbox is not this worker's (another database or
        # table; a MemoryInbox is per process), or the delivery was purged since.
        logger.warning(
            "inbox delivery %d is not in this worker's inbox, %r: the web side stores its"
            " deliveries elsewhere (give both the same database and table; a MemoryInbox is"
            " per process), or it was purged since",
            delivery_id,
            inbox,
            extra=extra,
        )
    return ProcessOutcome.SKIPPED


def describe_error(exc: BaseException) -> str:
    """``"ExceptionType: message"``, escaped of control characters and capped: a ``last_error``."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return printable(text, MAX_ERROR_LENGTH)


def given_back(at: datetime, stop: BaseException) -> dict[str, Any]:
    """The arguments of the `Inbox.retry` that gives a delivery back to another worker.

    Due ``at``, the attempt not counted: the handlers did not fail, ``stop`` interrupted them.
    """
    why = getattr(stop, "description", None) or type(stop).__name__  # KeyboardInterrupt...
    return {"at": at, "error": f"interrupted ({why}): given back", "counted": False}


class _Job:
    """One taken delivery: what to do with it after its handlers, and its one log record."""

    def __init__(
        self, taken: Taken, lease: timedelta, retries: RetryPolicy, clock: Clock, started: float
    ) -> None:
        self.delivery = taken.delivery
        self.retries = retries
        self.clock = clock
        self.started = started
        self.outcome = ProcessOutcome.DONE
        self.error: str | None = None
        self.failure: BaseException | None = None  # logged with its traceback
        self.retry_at: datetime | None = None
        self.unrecorded_tries = 0  # failed tries to record the outcome (see `unrecorded`)
        # When the lease ends, by `time.perf_counter`: as taken (``started`` was read before
        # the take) or as last renewed (see `_hold`).
        self.lease_ends = started + lease.total_seconds()

    def event(self, max_body_bytes: int) -> Event | None:
        """The event to run the handlers with, or ``None`` (and the job marked dead).

        Dead when the body can never be parsed, or when the delivery's attempts are used up
        although none failed: a worker that dies mid-handler (killed, out of memory, a hard
        time limit) records nothing, so a delivery that kills its worker every time would
        otherwise be taken again forever. (Its attempts are also over a limit lowered since
        they failed: their last error is kept.)
        """
        attempts = self.delivery.attempts
        if attempts > self.retries.max_attempts:
            self.outcome = ProcessOutcome.DEAD
            last = self.delivery.last_error
            why = (
                "the last ones ended without an outcome (their worker died: killed, out of"
                " memory, a hard time limit)"
                if last is None
                else f"last error: {last}"
            )
            limit = self.retries.max_attempts
            self.error = f"not run: attempt {attempts}, over the limit of {limit}; {why}"
            return None
        body = self.delivery.body
        try:
            return parse_event(body, max_bytes=max(max_body_bytes, len(body)))
        except PayloadError as invalid:
            self.outcome = ProcessOutcome.DEAD
            self.error = describe_error(invalid)
            return None

    def settle(self, failure: Exception | None) -> tuple[str, dict[str, Any]]:
        """The inbox method to call after the handlers (by name) and its keyword arguments."""
        if failure is None:
            return "complete", {}
        self.failure = failure
        self.error = describe_error(failure)
        attempts = self.delivery.attempts
        if attempts >= self.retries.max_attempts:
            self.outcome = ProcessOutcome.DEAD
            return "bury", {"error": self.error}
        self.outcome = ProcessOutcome.RETRIED
        self.retry_at = self.clock() + self.retries.delay(attempts)
        return "retry", {"at": self.retry_at, "error": self.error}

    def unrecorded(self, unavailable: StoreError) -> float:
        """After the inbox failed to record the outcome: seconds to wait before trying again.

        The handlers ran (or failed): while the lease last taken or renewed holds, the delivery is
        still this worker's, so recording it is tried again rather than left to the engine,
        whose retry would find it held and skip it, and whose sweep would then run the handlers
        again once the lease lapsed. Once the lease has lapsed, ``unavailable`` is raised again.
        """
        self.unrecorded_tries += 1
        left = self.lease_ends - time.perf_counter()
        ran = "ran" if self.outcome is ProcessOutcome.DONE else "raised"
        if left <= 0:
            logger.error(
                "inbox delivery %d: its handlers %s, and the inbox could not record"
                " it before its lease lapsed (%s; tries: %d); it runs again",
                self.delivery.id,
                ran,
                unavailable,
                self.unrecorded_tries,
                extra={"delivery_id": self.delivery.id},
            )
            raise unavailable
        if self.unrecorded_tries == 1:
            logger.warning(
                "inbox delivery %d: its handlers %s, and the inbox could not record"
                " it (%s); trying again until its lease lapses",
                self.delivery.id,
                ran,
                unavailable,
                extra={"delivery_id": self.delivery.id},
            )
        return min(left, _RECORD_WAITS[min(self.unrecorded_tries, len(_RECORD_WAITS)) - 1])

    def held_until_its_lease_lapses(self, why: str) -> None:
        """Log that the delivery stays held by this worker, which is done with it, and why."""
        logger.warning(
            "inbox delivery %d %s; it runs again once its lease lapses",
            self.delivery.id,
            why,
            extra={"delivery_id": self.delivery.id},
        )

    def labels(self) -> tuple[str, str | None]:
        """The delivery's event type and eventId (``None`` if it has none), fit for a log line."""
        delivery = self.delivery
        event_id = printable(delivery.event_id, MAX_LABEL_LENGTH) if delivery.event_id else None
        return printable(delivery.event_type, MAX_LABEL_LENGTH), event_id

    def gave_back(self, why: str) -> None:
        """Log that the handlers were interrupted and the delivery is due again at once."""
        delivery = self.delivery
        event_type, event_id = self.labels()
        logger.warning(
            "inbox delivery %d %s %s: %s after %.1f ms; due again now, for the next worker",
            delivery.id,
            event_type,
            event_id or "(no eventId)",
            why,
            (time.perf_counter() - self.started) * 1000,
            extra={"delivery_id": delivery.id, "outcome": "given_back"},
        )

    def not_given_back(self, why: str) -> None:
        """Log that the handlers were interrupted in a delivery no longer this worker's."""
        event_type, event_id = self.labels()
        logger.warning(
            "inbox delivery %d %s %s: %s after %.1f ms; not given back: its lease had lapsed and"
            " another worker holds it now",
            self.delivery.id,
            event_type,
            event_id or "(no eventId)",
            why,
            (time.perf_counter() - self.started) * 1000,
            extra={"delivery_id": self.delivery.id, "outcome": "not_given_back"},
        )

    def finish(self, held: bool) -> ProcessOutcome:
        """Log the delivery's one record and return its outcome; ``held`` is the inbox's answer."""
        delivery = self.delivery
        duration_ms = (time.perf_counter() - self.started) * 1000
        event_type, event_id = self.labels()
        notes = []
        if delivery.replays:
            notes.append(f"replayed on purpose, replay {delivery.replays}")
        if self.retry_at is not None:
            notes.append(f"next attempt at {self.retry_at.isoformat(timespec='seconds')}")
        if self.error is not None:
            notes.append(self.error)
        if not held and self.unrecorded_tries:
            notes.append(
                "the inbox no longer held it for this worker: a try that failed may have recorded"
                " it after all, or the lease lapsed and another worker took the delivery, and its"
                " handlers may run twice"
            )
        elif not held:
            notes.append(
                "the lease was lost before this was recorded: another worker may have taken the"
                " delivery, and its handlers may run twice"
            )
        level = {
            ProcessOutcome.DONE: logging.INFO,
            ProcessOutcome.RETRIED: logging.WARNING,
            ProcessOutcome.DEAD: logging.ERROR,
        }[self.outcome]
        if not held:
            level = max(level, logging.WARNING)
        logger.log(
            level,
            "inbox delivery %d %s %s: %s after attempt %d in %.1f ms%s",
            delivery.id,
            event_type,
            event_id or "(no eventId)",
            # "done" alone read as recorded: a worker that lost its lease recorded nothing.
            self.outcome.value if held else f"{self.outcome.value} here but not recorded",
            delivery.attempts,
            duration_ms,
            "".join(f" ({note})" for note in notes),
            exc_info=self.failure,
            extra={
                "delivery_id": delivery.id,
                "event_type": event_type,
                "event_id": event_id,
                "outcome": self.outcome.value,
                "recorded": held,
                "attempts": delivery.attempts,
                "duration_ms": duration_ms,
                "replays": delivery.replays,
            },
        )
        return self.outcome


def _give_back(inbox: Inbox, job: _Job, token: str, arguments: dict[str, Any]) -> None:
    """Make an interrupted delivery due again at once, and log what became of it."""
    try:
        held = inbox.retry(job.delivery.id, token, **arguments)
    except Exception:
        job.held_until_its_lease_lapses("could not be given back")
    else:
        if held:
            job.gave_back(arguments["error"])
        else:  # its lease lapsed while it ran, and another worker took it over
            job.not_given_back(arguments["error"].removesuffix(": given back"))


def _hold(inbox: Inbox, job: _Job, token: str, lease: timedelta) -> Hold:
    """Renew the delivery's lease every third of it while its handlers run, until stopped.

    The thread that renews the dispatcher's claims renews these too (a non-blocking inbox is
    thread-safe, a blocking one is called from that thread rather than the event loop). Each
    renewal moves ``job.lease_ends``.
    """
    delivery_id = job.delivery.id

    def renew(key: str, token: str, *, lease: timedelta) -> bool:
        asked = time.perf_counter()  # the new lease runs from the inbox's now, later than this
        renewed = inbox.renew(delivery_id, token, lease=lease)
        if renewed:
            job.lease_ends = asked + lease.total_seconds()
        return renewed

    return hold(f"inbox delivery {delivery_id}", token, renew, lease)
