"""Plain functions called from async code, in worker threads: what `to_thread` does, for less.

``asyncio.to_thread`` goes through a ``ThreadPoolExecutor``: a concurrent future chained to an
asyncio one, and one wake-up of the event loop per call. For a plain handler under uvicorn that
costs more than the delivery's own work. Here a call is handed to an idle thread directly, and
results go back in batches: the loop is woken once for every call that finished since it last
looked. (Measured in ``benchmarks/http_load.py``; the docs' Performance page has the figures.)

What ``asyncio.to_thread`` promises holds: the call sees the caller's context variables, its
exception is raised in the caller, cancelling the caller does not stop the call (its result is
dropped, and a call still waiting for a thread is not made), and at most ``min(32, CPUs + 4)``
threads run at once (later calls wait their turn). The threads are daemons, made when first needed
and kept for the next calls. A call made from one of these threads (a plain handler that runs an
event loop of its own) never waits for them: it gets a thread of its own, so they cannot all wait
for each other.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

__all__: list[str] = []

_T = TypeVar("_T")

MAX_THREADS = min(32, (os.cpu_count() or 1) + 4)
"""As many threads as ``asyncio``'s default executor runs at most."""


class _Results:
    """The finished calls of one event loop, handed back to it in batches."""

    __slots__ = ("done", "loop", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = weakref.ref(loop)  # a loop dropped unclosed is not kept alive by us
        self.done: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self.scheduled = False

    def post(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        """From a worker thread: the loop is woken only if it is not already due to look."""
        loop = self.loop()
        if loop is None:  # the loop is gone: no one is waiting any more
            return
        self.done.append((future, result, error))
        if not self.scheduled:
            self.scheduled = True
            with suppress(RuntimeError):  # the loop is closed: no one is waiting any more
                loop.call_soon_threadsafe(self.deliver)

    def deliver(self) -> None:
        """On the loop: settle every finished call (one appended meanwhile schedules again)."""
        self.scheduled = False
        done = self.done
        while done:
            future, result, error = done.popleft()
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


_Call = tuple[
    Callable[..., Any], tuple[Any, ...], dict[str, Any], contextvars.Context, Any, _Results
]
"""One call: the function and its arguments, the caller's context, its future, its loop's."""


class _Worker:
    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()

    def work(self) -> None:
        _ours.flag = True
        calls = self.calls
        while True:
            call = calls.get()
            if not call[4].cancelled():  # (its caller stopped waiting before it started)
                _run(*call)
            del call  # keep nothing alive while idle
            with _lock:
                if _backlog:
                    calls.put(_backlog.popleft())
                else:
                    _idle.append(self)


def _run(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: contextvars.Context,
    future: asyncio.Future[Any],
    results: _Results,
) -> None:
    """Make one call in this thread and hand its outcome to its caller's loop."""
    result: Any = None
    error: BaseException | None = None
    try:
        result = context.run(function, *args, **kwargs)
    except StopIteration as stop:  # a future cannot carry StopIteration
        error = RuntimeError(f"{function!r} raised StopIteration")
        error.__cause__ = stop
    except BaseException as raised:  # the caller decides; this thread goes on
        error = raised
    results.post(future, result, error)


_ours = threading.local()
"""``flag`` is set in the threads of this module."""


# This process's threads: the idle ones (the last to finish is the first reused, its caches
# warm) and the calls waiting for one when all `MAX_THREADS` are busy; each event loop's results
# (by the loop's id: `_Results` knows whether it is still that loop's).
_lock = threading.Lock()
_idle: list[_Worker] = []
_threads = 0
_backlog: deque[_Call] = deque()
_results: dict[int, _Results] = {}


def _forked() -> None:
    """In a forked child: the threads were the parent's."""
    global _lock, _threads, _ours
    _lock = threading.Lock()
    _idle.clear()
    _threads = 0
    _backlog.clear()
    _results.clear()
    _ours = threading.local()


os.register_at_fork(after_in_child=_forked)


def _results_of(loop: asyncio.AbstractEventLoop) -> _Results:
    """The results of ``loop`` (under `_lock`)."""
    results = _results.get(id(loop))
    if results is None or results.loop() is not loop:
        for key, other in list(_results.items()):  # forget loops gone or closed
            gone = other.loop()
            if gone is None or gone.is_closed():
                del _results[key]
        results = _results[id(loop)] = _Results(loop)
    return results


async def to_thread(function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Call ``function(*args, **kwargs)`` in a worker thread and wait for it without blocking."""
    global _threads
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()
    worker = None
    new = False
    with _lock:
        call: _Call = (function, args, kwargs, context, future, _results_of(loop))
        if _idle:
            worker = _idle.pop()
        elif _threads < MAX_THREADS or getattr(_ours, "flag", False):
            _threads += 1  # (called from one of the threads: never wait for the others)
            worker, new = _Worker(), True
        else:
            _backlog.append(call)
    if worker is not None:
        worker.calls.put(call)
        if new:
            _start(worker)
    return await future


def _start(worker: _Worker) -> None:
    """Start a new worker's thread, or tell its call, and any left waiting, that none started."""
    global _threads
    thread = threading.Thread(target=worker.work, name="idwise-events-thread", daemon=True)
    try:
        thread.start()
    except BaseException as error:  # no thread to be had: the call is not made
        with _lock:
            _threads -= 1
            stranded = [] if _threads else list(_backlog)  # no thread left to take them
            _backlog.clear() if stranded else None
        for _function, _args, _kwargs, _context, future, results in stranded:
            failed = RuntimeError(f"no worker thread could be started ({error!r})")
            results.post(future, None, failed)
        raise
