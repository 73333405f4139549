"""`EmbeddedWorker`: processes the inbox in a thread of the app (the SQLite default, one machine).

```python
from idwise_events.inbox.worker import EmbeddedWorker

with EmbeddedWorker(dispatcher):      # or worker.start() ... worker.stop()
    serve(app)
```

It polls the inbox for due deliveries (new ones, retries whose time came, lapsed leases), and is
woken at once by the dispatcher's ``on_accepted`` hook when a delivery comes in on this process.
Several workers on one inbox are safe (a delivery is taken by one), but on several machines use
Celery or the PostgreSQL queue: they schedule, distribute and monitor the work.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

from .._errors import StoreError
from .._inbox import Inbox, replaying
from .._process import (
    DEFAULT_RETRIES,
    ProcessOutcome,
    RetryPolicy,
    describe_error,
    interruptible,
    process,
)
from .._threads import to_thread

if TYPE_CHECKING:
    from typing_extensions import Self

    from .._dispatch import Dispatcher

__all__ = ["EmbeddedWorker"]

logger: logging.Logger = logging.getLogger("idwise_events")

_BATCH = 100  # deliveries listed per scan of the inbox
_SETTLING_RECHECK = 0.05  # seconds: when a stop finds the delivery being taken or settled


class _Stop(BaseException):
    """Raised in the main thread by `EmbeddedWorker.run_forever`'s signal handlers.

    A BaseException, like KeyboardInterrupt: `process` gives back the delivery it holds.
    """

    description = "the worker was stopped"
    """What the delivery's last error says, rather than this class's name."""


class EmbeddedWorker:
    """Runs the handlers of the deliveries in ``dispatcher``'s inbox, in this process.

    `start` runs it in a daemon thread beside your app; `run_forever` runs it in the foreground
    (what ``idwise-events worker`` does). Each scan processes every due delivery, one at a time,
    with [`process`][idwise_events._process.process]; deliveries are due when new, when their
    retry's time came, or when a worker that held them died (their lease lapsed).

    Args:
        dispatcher: The dispatcher with the ``inbox`` and the handlers.
        poll_interval: How long to wait between scans when nothing wakes the worker (a delivery
            accepted by this process's dispatcher wakes it at once).
        retries: When to try a failed delivery again, and how many times.

    Raises:
        TypeError: If the dispatcher has no inbox.
        ValueError: If ``poll_interval`` is not positive.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        poll_interval: timedelta = timedelta(seconds=1),
        retries: RetryPolicy = DEFAULT_RETRIES,
    ) -> None:
        if dispatcher.inbox is None:
            raise TypeError("EmbeddedWorker: the dispatcher has no inbox (Dispatcher(inbox=...))")
        if poll_interval <= timedelta(0):
            raise ValueError(f"EmbeddedWorker: poll_interval must be positive, not {poll_interval}")
        self.dispatcher = dispatcher
        self.inbox: Inbox = dispatcher.inbox
        self.poll_interval = poll_interval
        self.retries = retries
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._foreground = False  # `run_forever` is running
        self._told_not_running = False
        self._failing: str | None = None  # why the last scan failed, while scans fail
        dispatcher.on_accepted(self._accepted)

    def __repr__(self) -> str:
        return f"EmbeddedWorker({self.inbox!r}, poll_interval={self.poll_interval})"

    def start(self) -> None:
        """Start processing in a daemon thread (once; `stop` ends it).

        Raises:
            RuntimeError: If it is running already.
        """
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("EmbeddedWorker: already running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="idwise-events-worker", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float | None = 30) -> bool:
        """Stop taking deliveries; wait up to ``timeout`` seconds for the current one to finish.

        Returns whether the thread ended. If a handler still runs after ``timeout``, its delivery
        stays held until the thread ends or, if the process exits first, until its lease lapses:
        then another worker takes it (and its handlers run again).
        """
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            logger.warning(
                "the embedded worker is still running a delivery's handlers (or"
                " recording its outcome) after %gs; that delivery runs again after its lease if"
                " the process exits",
                timeout,
            )
            return False
        self._thread = None
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        """``async with worker:`` in an async app's lifespan: `start`, then `stop` at its end."""
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await to_thread(self.stop)  # waiting for the current delivery, off the event loop

    def run_once(self) -> int:
        """Process every delivery due now, one after the other; returns how many were taken.

        Stops early when the worker is told to stop.
        """
        count = 0
        for delivery_id in self.inbox.due(older_than=timedelta(0), limit=_BATCH):
            if self._stopping.is_set():
                break
            self._busy = True
            try:
                outcome = process(self.dispatcher, delivery_id, retries=self.retries)
            finally:
                self._busy = False
            count += outcome is not ProcessOutcome.SKIPPED
        return count

    def run_forever(self, *, grace: timedelta = timedelta(seconds=30)) -> None:
        """Process deliveries in this (main) thread until SIGTERM or SIGINT.

        On the first signal the worker takes no new delivery and lets the handlers of the current
        one finish for up to ``grace``; then (or at a second signal) they are interrupted and the
        delivery is given back, due at once, for the next worker. Only handlers are interrupted (and
        a wait to try again recording an outcome the inbox was unavailable for): a delivery being
        taken or completed is let finish that first.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("run_forever() handles signals: call it from the main thread")
        grace_seconds = max(grace.total_seconds(), 0.0)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if not self._busy:
                raise _Stop  # between deliveries: nothing to give back
            if self._stopping.is_set() or grace_seconds == 0:
                self._stopping.set()
                interrupt()  # a second signal, or no grace
                return
            self._stopping.set()
            logger.info(
                "stopping once the current delivery is processed (up to %gs)",
                grace_seconds,
            )
            if hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, grace_seconds)

        def interrupt() -> None:
            """Interrupt the handlers (the delivery is given back), or try again in a moment.

            Not while the delivery is taken or settled: it would stay held until its lease
            lapses, and its handlers would run again although they had finished.
            """
            if interruptible():
                raise _Stop
            if hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, _SETTLING_RECHECK)

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            if self._busy:
                interrupt()

        handlers = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, on_signal),
            signal.SIGINT: signal.signal(signal.SIGINT, on_signal),
        }
        if hasattr(signal, "SIGALRM"):
            handlers[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_alarm)
        self._stopping.clear()
        self._foreground = True
        try:
            self._loop()
        except _Stop:
            pass
        finally:
            self._foreground = False
            if hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, previous in handlers.items():
                signal.signal(signum, previous)

    # -- internals --------------------------------------------------------------------------------

    def _accepted(self, delivery_id: int) -> None:
        self._wake.set()
        thread = self._thread  # (a thread started before a fork is not running in the child)
        running = self._foreground or (thread is not None and thread.is_alive())
        if running or self._stopping.is_set() or self._told_not_running:
            return
        if replaying.get():  # an operator's replay (`inbox replay --app`, a script, the admin):
            return  # the worker of the app's own process, which polls the inbox, takes it
        self._told_not_running = True
        logger.warning(
            "inbox delivery %d was stored, and this process's EmbeddedWorker is not"
            " running: call its start() where the app starts (see the docs' Acknowledge fast"
            " page); until a worker runs, deliveries wait in the inbox",
            delivery_id,
        )

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                found = self.run_once()
                if self._failing is not None:
                    self._failing = None
                    logger.warning("the embedded worker reads the inbox again")
                if found:
                    continue  # more may have become due meanwhile: scan again at once
            except Exception as failed:
                # The inbox is unavailable (StoreError) or a bug: the worker keeps going. Said
                # once while it lasts, not at every poll (a traceback a second, in an outage).
                line = describe_error(failed)
                if line != self._failing:
                    self._failing = line
                    logger.warning(
                        "the embedded worker's scan failed (%s); it tries again every %g s,"
                        " and says when it succeeds",
                        line,
                        self.poll_interval.total_seconds(),
                        exc_info=None if isinstance(failed, StoreError) else failed,
                    )
            except BaseException as stop:
                if threading.current_thread() is threading.main_thread():
                    raise  # run_forever's stop, Ctrl-C, SystemExit: the process's to handle
                # In `start`'s thread, where SystemExit from a handler would end it silently.
                self._stopping.set()
                logger.error(
                    "the embedded worker stopped: a handler raised %s; no delivery"
                    " is processed until it is started again",
                    describe_error(stop),
                )
                return
            self._wake.wait(self.poll_interval.total_seconds())
