"""Celery: the task that processes an inbox delivery, the sweep in Celery beat, and the enqueue.

```python
tasks = install(celery_app, dispatcher)  # in the module both the web side and the worker import
```
"""

from __future__ import annotations

try:
    import celery
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.inbox.celery needs Celery: pip install "idwise-events[celery]"'
    ) from _missing

import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._dispatch import Dispatcher
from .._errors import StoreError
from .._process import DEFAULT_RETRIES, ProcessOutcome, RetryPolicy, process, sweep

__all__ = ["CeleryTasks", "install"]

# After a StoreError the job is retried by Celery this many times, 1, 2, 4... 16 s apart; then
# the delivery (still pending in the inbox) waits for the sweep.
_STORE_RETRIES = 5

_installed: weakref.WeakSet[celery.Celery] = weakref.WeakSet()
"""The apps `install` registered its tasks on: their names are fixed, so once per app."""


@dataclass(frozen=True)
class CeleryTasks:
    """The tasks `install` registered."""

    process: celery.Task[Any, Any]
    """Processes one delivery: ``tasks.process.delay(delivery_id)``."""
    sweep: celery.Task[Any, Any]
    """Enqueues ``process`` again for each delivery whose job may be lost (run by beat)."""


def install(
    app: celery.Celery,
    dispatcher: Dispatcher,
    *,
    retries: RetryPolicy = DEFAULT_RETRIES,
    sweep_every: timedelta = timedelta(minutes=1),
    queue: str | None = None,
) -> CeleryTasks:
    """Process ``dispatcher``'s inbox deliveries on ``app``'s workers.

    Registers the task ``idwise_events.process`` (its one argument is the delivery's id) and
    the task ``idwise_events.sweep``, run by Celery beat every ``sweep_every``, which enqueues
    again the deliveries waiting for longer than that; and makes ``dispatcher`` enqueue each
    delivery it accepts. Call it where both the web side and the workers import it.

    The process task acknowledges its message only when it is finished (``acks_late``), so a
    worker killed mid-handler leaves it to be delivered again: taking the delivery is atomic, so
    a message delivered twice runs the handlers once. A failed delivery is enqueued again for
    its next attempt; an unavailable inbox makes Celery retry the task.

    Args:
        app: The Celery application.
        dispatcher: The dispatcher, created with ``inbox=``, whose handlers run.
        retries: When a delivery whose handler raised is tried again, and how many times.
        sweep_every: How often beat runs the sweep.
        queue: The Celery queue of both tasks (the app's default queue if ``None``).

    Raises:
        TypeError: If the dispatcher has no inbox.
        ValueError: If ``sweep_every`` is not positive.
        RuntimeError: If ``install`` was called for this app already: the tasks' names are
            fixed, so a second dispatcher would take over the first one's jobs.
    """
    inbox = dispatcher.inbox
    if inbox is None:
        raise TypeError("install: the dispatcher has no inbox: create it with Dispatcher(inbox=)")
    if sweep_every <= timedelta(0):
        raise ValueError(f"install: sweep_every must be positive, not {sweep_every}")
    if app in _installed:
        raise RuntimeError(
            "install: this Celery app has the idwise_events tasks already; one dispatcher per"
            " app (a second one would take over the first one's jobs)"
        )
    _installed.add(app)

    # Given only when set, so that the app's own routing applies otherwise.
    options: dict[str, Any] = {} if queue is None else {"queue": queue}

    @app.task(
        name="idwise_events.process",
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=_STORE_RETRIES,
        ignore_result=True,
        **options,
    )
    def process_task(self: celery.Task[Any, Any], delivery_id: int) -> str:
        try:
            outcome = process(dispatcher, delivery_id, retries=retries)
            if outcome is ProcessOutcome.RETRIED:
                enqueue(delivery_id, at=_next_attempt(delivery_id))
        except StoreError as exc:
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        return outcome.value

    # bind=False spelled out: with **options, type checkers then pick the unbound task's type.
    @app.task(name="idwise_events.sweep", bind=False, ignore_result=True, **options)
    def sweep_task() -> int:
        return sweep(inbox, enqueue, older_than=sweep_every)

    def enqueue(delivery_id: int, *, at: datetime | None = None) -> None:
        process_task.apply_async((delivery_id,), eta=at)

    def _next_attempt(delivery_id: int) -> datetime | None:
        delivery = inbox.get(delivery_id)
        return delivery.next_attempt_at if delivery is not None else None

    def enqueue_accepted(delivery_id: int) -> None:
        enqueue(delivery_id)

    app.add_periodic_task(
        sweep_every.total_seconds(), sweep_task.s(), name="idwise_events.sweep", **options
    )
    dispatcher.on_accepted(enqueue_accepted)
    return CeleryTasks(process=process_task, sweep=sweep_task)
