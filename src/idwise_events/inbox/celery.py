"""Celery: the task that processes an inbox delivery, the sweep in Celery beat, and the enqueue.

```python
tasks = install(celery_app, dispatcher)  # in the module both the web side and the worker import
```
"""

from __future__ import annotations

try:
    import celery
    import kombu.exceptions
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
from .._process import (
    DEFAULT_RETRIES,
    ProcessOutcome,
    RetryPolicy,
    engine_inbox,
    enqueued_after_accept,
    periodic_sweep,
    process,
)

__all__ = ["CeleryTasks", "install"]


# After a StoreError the job is retried by Celery this many times, 1, 2, 4... 16 s apart; then
# the delivery (still pending in the inbox) waits for the sweep.
_STORE_RETRIES = 5

# kombu's Redis transport waits for the broker's answer without end unless told otherwise: a
# broker that accepts the connection and never answers would hold each webhook's 200. These
# bound every wait on a Redis broker, unless the app sets its own.
_REDIS_BROKER_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
_REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+socket", "sentinel"})

# The enqueue after an accept runs inside the webhook's request: one retry, at once, then the
# sweep is the backstop (the delivery is stored either way).
_ACCEPTED_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0}

# What a publish raises when the broker is down or unreachable (kombu's, or the socket's).
_BROKER_AWAY = (kombu.exceptions.OperationalError, OSError)

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

    The enqueue after an accept runs in the webhook's request, so its wait is bounded: with a
    Redis broker, ``socket_timeout`` and ``socket_connect_timeout`` default to 5 s in
    ``broker_transport_options`` (kombu's default is to wait without end), and a failed publish
    is retried once. A delivery whose enqueue failed is stored: the sweep enqueues it.

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
    inbox = engine_inbox(dispatcher, "Celery")
    if sweep_every <= timedelta(0):
        raise ValueError(f"install: sweep_every must be positive, not {sweep_every}")
    if app in _installed:
        raise RuntimeError(
            "install: this Celery app has the idwise_events tasks already; one dispatcher per"
            " app (a second one would take over the first one's jobs)"
        )
    _installed.add(app)
    # At each configuration of the app (config_from_object replaces it), and now if it has one
    # already: reading it before would load it before the app's own setup ends.
    app.on_after_configure.connect(lambda sender, **_: _bound_redis_waits(app), weak=False)
    if getattr(app, "configured", False):  # (not in celery-types' stubs)
        _bound_redis_waits(app)

    # The queue given only when set, so that the app's own routing applies otherwise. Not
    # shared: Celery would give these tasks to every app made later in the process, which
    # would then run this dispatcher's jobs in place of its own.
    options: dict[str, Any] = (
        {"shared": False} if queue is None else {"shared": False, "queue": queue}
    )

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
        return periodic_sweep(inbox, enqueue, every=sweep_every)

    def enqueue(delivery_id: int, *, at: datetime | None = None) -> None:
        process_task.apply_async((delivery_id,), eta=at)

    def _next_attempt(delivery_id: int) -> datetime | None:
        delivery = inbox.get(delivery_id)
        return delivery.next_attempt_at if delivery is not None else None

    def enqueue_accepted(delivery_id: int) -> None:
        enqueued_after_accept(
            lambda: process_task.apply_async((delivery_id,), retry_policy=_ACCEPTED_PUBLISH_RETRY),
            delivery_id,
            job="Celery task could not be sent",
            then="the sweep sends it once the broker is back",
            every=sweep_every,
            away=_BROKER_AWAY,
        )

    app.add_periodic_task(
        sweep_every.total_seconds(), sweep_task.s(), name="idwise_events.sweep", **options
    )
    enqueue_accepted.__qualname__ = (
        "the Celery enqueue of idwise_events.inbox.celery"  # as the log names a hook
    )
    dispatcher.on_accepted(enqueue_accepted)
    return CeleryTasks(process=process_task, sweep=sweep_task)


def _bound_redis_waits(app: celery.Celery) -> None:
    """Give a Redis broker's sockets timeouts, where the app set none (see the constant)."""
    url: object = app.conf.broker_write_url  # the broker_url unless set; may be a failover list
    first = url[0] if isinstance(url, list | tuple) and url else url
    scheme = str(first or "").partition("://")[0].lower()
    if scheme not in _REDIS_SCHEMES:
        return
    options = dict(app.conf.broker_transport_options or {})
    app.conf.broker_transport_options = {**_REDIS_BROKER_TIMEOUTS, **options}
