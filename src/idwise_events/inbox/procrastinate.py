"""procrastinate (a PostgreSQL queue): the job processing an inbox delivery, the sweep, the enqueue.

```python
tasks = install(procrastinate_app, dispatcher)  # in the module the web side and workers import
```
"""

from __future__ import annotations

try:
    import procrastinate
    import procrastinate.exceptions
    import procrastinate.tasks
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "idwise_events.inbox.procrastinate needs procrastinate:"
        ' pip install "idwise-events[procrastinate]"'
    ) from _missing

import atexit
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .._dispatch import Dispatcher
from .._errors import StoreError
from .._inbox import DeliveryState, replaying
from .._process import (
    DEFAULT_RETRIES,
    ProcessOutcome,
    RetryPolicy,
    engine_inbox,
    enqueued_after_accept,
    periodic_sweep,
    process,
)

__all__ = ["ProcrastinateTasks", "install", "sweep_cron"]

logger: logging.Logger = logging.getLogger("idwise_events")

# After a StoreError the delivery's job is deferred again 2, 4, 8, 16 s later (each a new job:
# procrastinate's own retry would put the failed job back in the queue with its queueing lock,
# which a job deferred meanwhile may hold, and the database refuses it); then the delivery waits
# for the sweep.
_STORE_RETRIES = 4


@dataclass(frozen=True)
class ProcrastinateTasks:
    """The tasks `install` registered."""

    process: procrastinate.tasks.Task[Any, Any, Any]
    """Processes one delivery: ``tasks.process.defer(delivery_id=...)``."""
    sweep: procrastinate.tasks.Task[Any, Any, Any]
    """Defers ``process`` again for each delivery whose job may be lost (a periodic task)."""


class AppNotOpen(RuntimeError):
    """procrastinate's app is not open in the web process (the message says how to open it)."""


# What a defer raises when the queue's database is away, or the app was not opened.
_QUEUE_AWAY = (AppNotOpen, procrastinate.exceptions.ConnectorException, OSError)


def install(
    app: procrastinate.App,
    dispatcher: Dispatcher,
    *,
    retries: RetryPolicy = DEFAULT_RETRIES,
    sweep_every: timedelta = timedelta(minutes=1),
    queue: str = "idwise_events",
) -> ProcrastinateTasks:
    """Process ``dispatcher``'s inbox deliveries on ``app``'s workers.

    Registers the task ``idwise_events.process`` (its one argument, ``delivery_id``, is the
    delivery's id) and the periodic task ``idwise_events.sweep``, deferred by the workers every
    ``sweep_every``, which defers again the deliveries waiting for longer than that (not those
    whose job still waits in the queue: a queueing lock keeps one per delivery); and makes
    ``dispatcher`` defer each delivery it accepts, with procrastinate's synchronous API: open
    the app on the web side with ``app.open()`` (in async frameworks too: the hook runs in a
    worker thread); a replay (`Dispatcher.replay`) where nothing opened it, such as
    ``idwise-events inbox replay --app``, opens it until the process exits. Call it where both
    the web side and the workers import it.

    Taking the delivery is atomic, so a job run twice runs the handlers once; a worker killed
    mid-handler leaves the delivery held until its lease lapses, and the sweep then defers it
    again. A failed delivery is deferred again for its next attempt; an unavailable inbox fails
    the job, and defers a new one for the delivery 2, 4, 8 and 16 s later.

    Args:
        app: The procrastinate application.
        dispatcher: The dispatcher, created with ``inbox=``, whose handlers run.
        retries: When a delivery whose handler raised is tried again, and how many times.
        sweep_every: How often the sweep runs: whole seconds dividing a minute, or whole
            minutes dividing an hour (it becomes a cron schedule).
        queue: The procrastinate queue of both tasks.

    Raises:
        ValueError: If ``sweep_every`` cannot be a cron schedule.
    """
    inbox = engine_inbox(dispatcher, "procrastinate")
    cron = sweep_cron(sweep_every)

    @app.task(name="idwise_events.process", queue=queue)
    def process_task(delivery_id: int, store_retries: int = 0) -> str:
        try:
            outcome = process(dispatcher, delivery_id, retries=retries)
        except StoreError:
            if store_retries < _STORE_RETRIES:
                try:
                    later = timedelta(seconds=2 ** (store_retries + 1))
                    enqueue(delivery_id, at=_now() + later, retry=store_retries + 1)
                except Exception:  # the queue's database is down too: the sweep defers it
                    logger.warning(
                        "inbox delivery %d: its job could not be deferred again"
                        " after the inbox failed; the sweep defers it",
                        delivery_id,
                        exc_info=True,
                        extra={"delivery_id": delivery_id},
                    )
            raise
        if outcome is ProcessOutcome.RETRIED:  # its next attempt, under the queueing lock too
            delivery = inbox.get(delivery_id)
            enqueue(delivery_id, at=delivery.next_attempt_at if delivery is not None else None)
        elif outcome is ProcessOutcome.SKIPPED:
            # Not due yet: a second job (the sweep's, after a lease lapsed mid-handler) held the
            # lock when the retry's was deferred, so this one defers the retry's in its place.
            delivery = inbox.get(delivery_id)
            if delivery is not None and delivery.state is DeliveryState.PENDING:
                due = delivery.next_attempt_at
                if due is not None and due > _now():
                    enqueue(delivery_id, at=due)
        return outcome.value

    @app.periodic(cron=cron, periodic_id="idwise_events.sweep")
    @app.task(name="idwise_events.sweep", queue=queue)
    def sweep_task(timestamp: int) -> int:
        return periodic_sweep(inbox, enqueue, every=sweep_every)

    opening = threading.Lock()

    def enqueue(delivery_id: int, *, at: datetime | None = None, retry: int = 0) -> bool:
        """Defer the delivery's job, unless one waits in the queue already: then ``False``.

        To run at ``at`` (now if ``None``); ``retry`` counts the jobs deferred after a `StoreError`.
        """
        # The queueing lock lets one job per delivery wait in the queue: during a backlog the
        # sweep finds the delivery's job still queued rather than adding another each time.
        # (The queue is in it: installs on other queues may share procrastinate's tables.)
        options: dict[str, Any] = {"queueing_lock": f"idwise_events.process:{queue}:{delivery_id}"}
        if at is not None:
            options["schedule_at"] = at
        job = process_task.configure(**options)
        arguments: dict[str, int] = {"delivery_id": delivery_id}
        if retry:
            arguments["store_retries"] = retry
        try:
            try:
                job.defer(**arguments)
            except procrastinate.exceptions.AppNotOpen as closed:
                if not replaying.get():  # a server that did not open it: its startup hook should
                    raise AppNotOpen(
                        "procrastinate's app is not open in this process: open it where the web"
                        " side starts (app.open(); under gunicorn --preload, in a post_fork"
                        " hook)"
                    ) from closed
                _open_here(app, opening)
                job.defer(**arguments)
        except procrastinate.exceptions.AlreadyEnqueued:
            return False
        return True

    def enqueue_accepted(delivery_id: int) -> None:
        enqueued_after_accept(
            lambda: enqueue(delivery_id),
            delivery_id,
            job="procrastinate job could not be deferred",
            then="the sweep defers it",
            every=sweep_every,
            away=_QUEUE_AWAY,
        )

    enqueue_accepted.__qualname__ = (
        "the procrastinate defer of idwise_events.inbox.procrastinate"  # as the log names a hook
    )
    dispatcher.on_accepted(enqueue_accepted)
    opened_app = weakref.ref(app)
    os.register_at_fork(after_in_child=lambda: _warn_if_opened_before_fork(opened_app()))
    return ProcrastinateTasks(process=process_task, sweep=sweep_task)


def _warn_if_opened_before_fork(app: procrastinate.App | None) -> None:
    """In a forked child (``gunicorn --preload``): say so if the parent had opened ``app``.

    Its pool's connections are then the parent's too, and a defer in the web request can hang
    or fail with no word of why; the fix is to open it in each process, after the fork.
    """
    try:
        if app is None:
            return
        connector: Any = app.connector.get_sync_connector()  # psycopg's: with a pool
        connector.pool  # noqa: B018 -- raises AppNotOpen until it is opened
    except Exception:  # not open (or a connector without a pool): nothing shared
        return
    logger.warning(
        "procrastinate's app was opened before this process was forked (gunicorn --preload?):"
        " its pool's connections are the parent's too, and deferring the inbox's jobs can hang"
        " or fail; open it in each process after the fork (a post_fork hook in"
        " gunicorn.conf.py), not at import"
    )


def _open_here(app: procrastinate.App, opening: threading.Lock) -> None:
    """Open ``app`` for a replay where nothing did (``inbox replay --app``, a script).

    Its synchronous pool stays open for the next jobs, and is closed when the process exits; if
    it cannot open, it is reset, so that the next replay tries again.
    """
    with opening:  # one pool, however many threads find the app closed at once
        try:
            app.open()  # (does nothing if another thread just opened it)
        except Exception:
            app.close()  # procrastinate keeps the pool that failed to open: drop it
            raise
        atexit.register(app.close)  # (closing twice is harmless)
    logger.info(
        "procrastinate's app was not open in this process: opened it to defer"
        " the inbox's jobs (open it at your web app's startup to do so once, up front)"
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def sweep_cron(every: timedelta) -> str:
    """The cron schedule (with a seconds field when under a minute) of a sweep run ``every``."""
    seconds = every.total_seconds()
    if seconds == int(seconds) and seconds >= 1:
        whole = int(seconds)
        if whole < 60 and 60 % whole == 0:
            return f"* * * * * */{whole}"
        if whole % 60 == 0 and 3600 % whole == 0:
            return f"*/{whole // 60} * * * *"
    raise ValueError(
        f"sweep_every must be whole seconds dividing a minute or whole minutes dividing an"
        f" hour, not {every}"
    )
