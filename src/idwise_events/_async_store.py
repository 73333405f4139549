"""The async side of the stores: `AsyncIdempotencyStore`, and `as_async_store` for sync ones.

asyncio is imported only when a wrapper runs, which is always inside a running event loop: a
synchronous application never pays for importing it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeAlias, TypeVar, cast

from ._store import ClaimResult, IdempotencyStore

__all__ = ["AsyncIdempotencyStore", "as_async_store"]

_T = TypeVar("_T")

SyncRunner: TypeAlias = Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]
"""Turns a blocking function into an awaitable one that runs it off the event loop.

The shape of asgiref's ``sync_to_async``, which Django code passes so that its database
connections are used from the threads Django manages; by default, worker threads as
``asyncio.to_thread`` would use.
"""


class AsyncIdempotencyStore(Protocol):
    """The async twin of `IdempotencyStore`, for `Dispatcher.handle_async`.

    [`as_async_store`][idwise_events.as_async_store] turns any synchronous store into one.
    """

    async def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        """As [`IdempotencyStore.claim`][idwise_events.IdempotencyStore.claim]."""
        ...

    async def complete(self, key: str, token: str) -> bool:
        """As [`IdempotencyStore.complete`][idwise_events.IdempotencyStore.complete]."""
        ...

    async def release(self, key: str, token: str) -> bool:
        """As [`IdempotencyStore.release`][idwise_events.IdempotencyStore.release]."""
        ...

    async def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        """As [`IdempotencyStore.renew`][idwise_events.IdempotencyStore.renew]."""
        ...

    async def purge(self) -> int:
        """As [`IdempotencyStore.purge`][idwise_events.IdempotencyStore.purge]."""
        ...


async def to_thread(function: Callable[..., _T], /, *args: object, **kwargs: object) -> _T:
    """``asyncio.to_thread``, for less: see `_threads` (imported when first needed, as asyncio)."""
    from ._threads import to_thread

    return await to_thread(function, *args, **kwargs)


async def given_back_if_cancelled(
    taking: Awaitable[_T], give_back: Callable[[_T], Awaitable[object] | None]
) -> _T:
    """Await ``taking`` (a claim, an inbox's take), and give back what it took if cancelled.

    If the caller is cancelled meanwhile, ``taking`` still finishes, then ``give_back`` is called
    with its result. A call running in a worker thread cannot be stopped: without this, what it
    took would be held by no one until its lease ran out, and every retry would wait for that.
    """
    import asyncio

    task = asyncio.ensure_future(taking)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(lambda done: _give_back(done, give_back))
        raise


async def finished_even_if_cancelled(
    finishing: Awaitable[_T], or_else: Callable[[], object] | None = None
) -> _T:
    """Await ``finishing`` (a claim's completion or release), which goes on if cancelled.

    A cancelled delivery's release must still reach the store, however many times it is
    cancelled (a server's shutdown cancels, then ``asyncio.run`` cancels what is left):
    otherwise the claim is held until its lease runs out, and every retry gets 409. If the event
    loop cancels ``finishing`` itself (it ends, cancelling every task, before that one could
    run), ``or_else`` does the same work at once, blocking the loop's thread: a blocking store's
    call, the last chance to reach the store before the process ends.
    """
    import asyncio

    task = asyncio.ensure_future(finishing)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _giving_back.add(task)
        task.add_done_callback(_given_back if or_else is None else _or_else(or_else))
        raise


RELEASE_WAIT = 1.0
"""Seconds an interrupted delivery's release may block the event loop (see `finished_at_once`)."""


async def finished_at_once(call: Callable[[], _T], wait: float = RELEASE_WAIT) -> _T:
    """Make ``call`` (a blocking store's release) in a thread, the event loop blocked meanwhile.

    A server's shutdown may end the process a loop turn after it cancels (uvicorn re-raises
    SIGTERM): a release awaited the usual way would not land in time. The loop is blocked for
    ``wait`` seconds at most, so that a stalled database holds the other requests no longer;
    past that, the release is awaited as usual.
    """
    import asyncio
    import concurrent.futures
    import threading

    done: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(call())
        except BaseException as error:  # raised in the caller
            done.set_exception(error)

    threading.Thread(target=run, name="idwise-events-release", daemon=True).start()
    try:
        return done.result(timeout=wait)
    except concurrent.futures.TimeoutError:
        return await finished_even_if_cancelled(asyncio.wrap_future(done))


def _or_else(or_else: Callable[[], object]) -> Callable[[Any], None]:
    """`_given_back`, which calls ``or_else`` if the task was cancelled."""

    def given_back(task: Any) -> None:
        _given_back(task)
        if task.cancelled():
            try:
                or_else()
            except Exception as error:
                _warn_not_given_back(error)

    return given_back


class HandlerThread:
    """A plain handler's call in a worker thread, which its caller's cancellation cannot stop.

    The caller is cancelled at once, while the thread goes on: a cancelled delivery must be
    given back only once `unfinished` is None (see `after`), or a retry would run the handler
    beside the run still going.
    """

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: Any = None
        """The last call's future, once a call started."""

    async def run(self, call: Awaitable[_T]) -> _T:
        """Await ``call``; if cancelled, the call goes on as `unfinished`."""
        import asyncio

        self.task = task = asyncio.ensure_future(call)
        return await asyncio.shield(task)

    @property
    def unfinished(self) -> Any:
        """The call's future while it still runs after its caller was cancelled, else None.

        (``run`` returns or raises only once the call is done, unless it is cancelled: so after
        ``run``, an unfinished call means a cancelled caller.)
        """
        task = self.task
        return None if task is None or task.done() else task


def after(running: Any, then: Callable[[], Awaitable[object] | object]) -> None:
    """Call ``then`` (a claim's release, a delivery's give-back) once the future ``running`` ends.

    ``then`` may return an awaitable, which is awaited on the loop; a failure is logged.
    """
    _giving_back.add(running)  # kept alive until then, whatever holds it
    running.add_done_callback(lambda done: _then(done, then))


def _then(done: Any, then: Callable[[], Awaitable[object] | object]) -> None:
    import asyncio

    _giving_back.discard(done)
    try:
        returning = then()
    except Exception as error:
        _warn_not_given_back(error)
        return
    if inspect.isawaitable(returning):
        task = asyncio.ensure_future(returning)
        _giving_back.add(task)
        task.add_done_callback(_given_back)


_giving_back: set[Any] = set()
"""The give-backs under way (the event loop keeps only weak references to its tasks)."""


def _give_back(taken: Any, give_back: Callable[[Any], Awaitable[object] | None]) -> None:
    if not taken.cancelled() and taken.exception() is None:  # else nothing was taken
        _then(taken, lambda: give_back(taken.result()))


def _given_back(task: Any) -> None:
    _giving_back.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _warn_not_given_back(task.exception())


def _warn_not_given_back(error: BaseException) -> None:
    import logging

    logging.getLogger("idwise_events").warning(
        "a cancelled delivery's claim could not be given back (%s); it is"
        " free again once its lease runs out",
        error,
    )


class _InlineAsyncStore:
    """Calls a store that never blocks straight from the event loop."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store

    async def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        return self.store.claim(key, lease=lease, fingerprint=fingerprint)

    async def complete(self, key: str, token: str) -> bool:
        return self.store.complete(key, token)

    async def release(self, key: str, token: str) -> bool:
        return self.store.release(key, token)

    async def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        return self.store.renew(key, token, lease=lease)

    async def purge(self) -> int:
        return self.store.purge()


class _ThreadedAsyncStore(_InlineAsyncStore):
    """Runs each call of a blocking store in a worker thread, so the event loop keeps going."""

    async def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        return await to_thread(self.store.claim, key, lease=lease, fingerprint=fingerprint)

    async def complete(self, key: str, token: str) -> bool:
        return await to_thread(self.store.complete, key, token)

    async def release(self, key: str, token: str) -> bool:
        return await to_thread(self.store.release, key, token)

    async def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        return await to_thread(self.store.renew, key, token, lease=lease)

    async def purge(self) -> int:
        return await to_thread(self.store.purge)


class _RunnerAsyncStore:
    """Runs each call of a blocking store through the `SyncRunner` it was given."""

    def __init__(self, store: IdempotencyStore, run_sync: SyncRunner) -> None:
        self.store = store
        self._claim = run_sync(store.claim)
        self._complete = run_sync(store.complete)
        self._release = run_sync(store.release)
        self._purge = run_sync(store.purge)
        # A store written before renew existed has none: it fails only if renew is called.
        renew = getattr(store, "renew", None)
        self._renew = None if renew is None else run_sync(renew)

    async def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        result: ClaimResult = await self._claim(key, lease=lease, fingerprint=fingerprint)
        return result

    async def complete(self, key: str, token: str) -> bool:
        return bool(await self._complete(key, token))

    async def release(self, key: str, token: str) -> bool:
        return bool(await self._release(key, token))

    async def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        if self._renew is None:
            raise AttributeError(f"{type(self.store).__name__} has no renew()")
        return bool(await self._renew(key, token, lease=lease))

    async def purge(self) -> int:
        count: int = await self._purge()
        return count


def as_async_store(
    store: IdempotencyStore | AsyncIdempotencyStore, *, run_sync: SyncRunner | None = None
) -> AsyncIdempotencyStore:
    """An async view of ``store`` that never blocks the event loop.

    A store that is already async is returned as it is. A synchronous store whose ``blocking``
    attribute is false (`MemoryStore`) is called inline; a blocking synchronous store, such as
    [`SqlStore`][idwise_events.stores.sql.SqlStore] or your own, runs each call in a worker thread
    (as ``asyncio.to_thread`` would, for less), or through ``run_sync`` if given. The docs'
    Idempotency page explains why threads rather than an async driver, with the measured cost.

    Args:
        store: The store to call from async code.
        run_sync: How to run a blocking store's calls instead of in worker threads: a function
            that takes a plain function and returns an async one, such as asgiref's
            ``sync_to_async`` (Django's database connections belong to the threads Django
            manages).
    """
    if inspect.iscoroutinefunction(store.claim):
        return cast(AsyncIdempotencyStore, store)
    sync_store = cast(IdempotencyStore, store)
    if not sync_store.blocking:
        return _InlineAsyncStore(sync_store)
    if run_sync is not None:
        return _RunnerAsyncStore(sync_store, run_sync)
    return _ThreadedAsyncStore(sync_store)
