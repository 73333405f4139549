"""`Dispatcher`: one delivery, from the raw request to the answer IDWise gets.

The flow of a delivery is written once, in `Dispatcher._flow`: size, verify, parse, claim,
handlers, complete. It is a generator that *yields* each call that may block or may be a
coroutine (a store call, a handler, a hook) instead of making it. `Dispatcher.handle` makes those
calls directly; `Dispatcher.handle_async` awaits them (running synchronous handlers and blocking
stores in worker threads). The two differ in nothing else.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import suppress
from datetime import timedelta
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_args, overload

from ._async_store import (
    AsyncIdempotencyStore,
    HandlerThread,
    SyncRunner,
    after,
    as_async_store,
    finished_at_once,
    finished_even_if_cancelled,
    given_back_if_cancelled,
    to_thread,
)
from ._auth import Verifier, decides_from_headers
from ._enums import EventType
from ._errors import PayloadError, StoreError, VerificationError
from ._events import Event, KnownEvent, UnknownEvent
from ._inbox import Accepted, Inbox, replaying
from ._leases import Hold, hold, hold_async
from ._memory_inbox import MemoryInbox
from ._outcomes import (
    UNAVAILABLE_RETRY_AFTER,
    Delivered,
    Outcome,
    log_delivery,
    respond,
    responses_for,
    warn_if_it_loses_events,
)
from ._parse import DEFAULT_MAX_BYTES, parse_event
from ._request import Headers, WebhookRequest, WebhookResponse, parse_content_length
from ._store import (
    Claimed,
    ClaimResult,
    Completed,
    IdempotencyStore,
    MemoryStore,
    check_lease,
    fingerprint,
    report_fingerprint_mismatch,
)
from ._text import error_line, printable

__all__ = ["Dispatcher"]

logger = logging.getLogger("idwise_events")

_READ_BEFORE_VERIFYING = 65_536
"""The most a body's ``Content-Length`` may announce and still be read before it is verified
(IDWise's are a few KiB); half of ``max_body_bytes`` when that is less. A larger one is verified
from its headers first, by `Dispatcher.early_response`."""

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

_serving_loop: contextvars.ContextVar[AbstractEventLoop | None] = contextvars.ContextVar(
    "idwise_events_serving_loop", default=None
)
"""The event loop of a `handle_async` whose delivery a worker thread runs whole: a plain handler
that returns a coroutine has it awaited on that loop, as it would be without the thread."""

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)
E3 = TypeVar("E3", bound=Event)
E4 = TypeVar("E4", bound=Event)
E5 = TypeVar("E5", bound=Event)
R = TypeVar("R")

# Counts the forks that led to this process: a dispatcher built before a fork sees it change.
_process_generation = 0


def _count_fork() -> None:
    global _process_generation
    _process_generation += 1


os.register_at_fork(after_in_child=_count_fork)

# Every class `parse_event` can return: handler lists are resolved for each one at registration.
EVENT_MODELS: tuple[type[Any], ...] = (*get_args(get_args(KnownEvent)[0]), UnknownEvent)


def _not_an_event_class(given: object) -> str:
    """What `Dispatcher.on` says about an argument that is not an event class, with the fix."""
    wanted = "on() takes event classes such as FinishedJourney"
    if isinstance(given, EventType):
        model = next(m for m in EVENT_MODELS if getattr(m, "event_type", None) is given)
        return f"{wanted}: for {given.value!r}, pass {model.__name__}, not {given}"
    if isinstance(given, str):
        known = {m.event_type.value: m.__name__ for m in EVENT_MODELS if m is not UnknownEvent}
        if given in known:
            return f"{wanted}: for {given!r}, pass {known[given]}, not the name"
        return f"{wanted}, not the name {printable(repr(given), 200)}"
    if given is Event or given is KnownEvent:
        return f"{wanted}; for every event, register the handler with on_any"
    if callable(given) and not isinstance(given, type):
        name = getattr(given, "__qualname__", None) or type(given).__name__
        return f"{wanted} first: @dispatcher.on(FinishedJourney), not @dispatcher.on, on {name}"
    return f"{wanted}, not {printable(repr(given), 200)}"


class _Handler:
    """A registered handler or hook: how to call it from sync code and from async code."""

    __slots__ = ("func", "is_async", "name")

    def __init__(self, func: Callable[..., object]) -> None:
        if not callable(func):
            raise TypeError(f"a handler must be callable, not {type(func).__name__}")
        self.func = func
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 -- an object whose __call__ is async
        )
        self.name: str = getattr(func, "__qualname__", None) or repr(func)

    def call(self, args: tuple[Any, ...]) -> object:
        result = self.func(*args)
        if inspect.iscoroutine(result):
            # asyncio is imported only where a coroutine meets sync code: the import is costly.
            import asyncio

            serving = _serving_loop.get()
            if serving is not None:  # in a worker thread, for `handle_async`: await it there
                return asyncio.run_coroutine_threadsafe(result, serving).result()
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(result)
            result.close()
            raise RuntimeError(
                f"{self.name} is a coroutine function, called from a running event loop through"
                " one of the dispatcher's sync methods: there, await its async one"
                " (`handle_async`, `replay_async`, `dispatch_async`)"
            )
        return result

    async def call_async(self, args: tuple[Any, ...], run_sync: SyncRunner | None) -> object:
        if self.is_async:
            return await cast(Awaitable[object], self.func(*args))
        result = await (
            to_thread(self.func, *args) if run_sync is None else run_sync(self.func)(*args)
        )
        return await result if inspect.iscoroutine(result) else result


# The steps of a delivery that may block or be a coroutine. The flow yields them instead of
# taking them; each knows how to run itself from sync code and from async code.


class _Step:
    __slots__ = ()

    def run(self, dispatcher: Dispatcher) -> Any:
        raise NotImplementedError

    async def run_async(self, dispatcher: Dispatcher) -> Any:
        raise NotImplementedError


class _Call(_Step):
    """Call a handler or a hook."""

    __slots__ = ("args", "handler", "thread")

    def __init__(self, handler: _Handler, args: tuple[Any, ...]) -> None:
        self.handler = handler
        self.args = args
        self.thread: HandlerThread | None = None
        """A plain handler's run in a worker thread, which goes on if the caller is cancelled."""

    def run(self, dispatcher: Dispatcher) -> Any:
        return self.handler.call(self.args)

    async def run_async(self, dispatcher: Dispatcher) -> Any:
        calling = self.handler.call_async(self.args, dispatcher._run_sync)
        if self.handler.is_async:
            return await calling
        self.thread = HandlerThread()
        return await self.thread.run(calling)

    @property
    def running(self) -> Any:
        """A plain handler's thread still running after its caller was cancelled, else None."""
        return None if self.thread is None else self.thread.unfinished


class _Claim(_Step):
    __slots__ = ("fingerprint", "key")

    def __init__(self, key: str, fingerprint: str) -> None:
        self.key = key
        self.fingerprint = fingerprint

    def run(self, dispatcher: Dispatcher) -> ClaimResult:
        store = cast(IdempotencyStore, dispatcher._sync_store)
        return store.claim(self.key, lease=dispatcher._lease, fingerprint=self.fingerprint)

    async def run_async(self, dispatcher: Dispatcher) -> ClaimResult:
        store = dispatcher._async_store
        key = self.key

        def release(claim: ClaimResult) -> Awaitable[bool] | None:
            return store.release(key, claim.token) if isinstance(claim, Claimed) else None

        claiming = store.claim(key, lease=dispatcher._lease, fingerprint=self.fingerprint)
        return await given_back_if_cancelled(claiming, release)


class _Complete(_Step):
    __slots__ = ("key", "token")

    def __init__(self, key: str, token: str) -> None:
        self.key = key
        self.token = token

    def run(self, dispatcher: Dispatcher) -> bool:
        return cast(IdempotencyStore, dispatcher._sync_store).complete(self.key, self.token)

    async def run_async(self, dispatcher: Dispatcher) -> bool:
        sync = dispatcher._sync_store
        complete = dispatcher._async_store.complete(self.key, self.token)
        if sync is None or dispatcher._run_sync is not None:  # async, or Django's: not here
            return await finished_even_if_cancelled(complete)
        or_else = partial(sync.complete, self.key, self.token)
        return await finished_even_if_cancelled(complete, or_else)


class _Release(_Step):
    """Stop renewing the claim's lease and release it: its handlers failed or were interrupted.

    A cancelled delivery's plain handler still running in its thread (``running``) is let end
    first, lease renewed meanwhile: released at once, the claim would let a retry run the
    handler beside it. The step then answers True without waiting.

    An ``interrupted`` delivery's claim in a blocking store is released with the event loop
    blocked until it is (for a second at most, see `finished_at_once`): a server's shutdown may
    end the process a loop turn after it cancels (uvicorn re-raises SIGTERM), before a release
    awaited the usual way could land. Interruptions are rare; a handler's failure is released
    the usual way.
    """

    __slots__ = ("hold", "interrupted", "key", "running", "token")

    def __init__(
        self,
        key: str,
        token: str,
        hold: Hold | None,
        running: Any = None,
        *,
        interrupted: bool = False,
    ) -> None:
        self.key = key
        self.token = token
        self.hold = hold
        self.running = running
        self.interrupted = interrupted

    def run(self, dispatcher: Dispatcher) -> bool:
        store = cast(IdempotencyStore, dispatcher._sync_store)
        return self._later(lambda: store.release(self.key, self.token)) or store.release(
            self.key, self.token
        )

    async def run_async(self, dispatcher: Dispatcher) -> bool:
        store = dispatcher._async_store
        if self._later(lambda: store.release(self.key, self.token)):
            return True
        sync = dispatcher._sync_store
        if sync is None or dispatcher._run_sync is not None:  # async, or Django's: not here
            return await finished_even_if_cancelled(store.release(self.key, self.token))
        release = partial(sync.release, self.key, self.token)
        if self.interrupted:
            return await finished_at_once(release)
        return await finished_even_if_cancelled(store.release(self.key, self.token), release)

    def _later(self, release: Callable[[], object]) -> bool:
        """Whether the release waits for a handler's thread (True), else stop renewing now."""
        hold = self.hold
        running = self.running
        if running is None or running.done():
            if hold is not None:
                hold.stop()
            return False

        def release_now() -> object:
            if hold is not None:
                hold.stop()
            return release()

        after(running, release_now)
        return True


class _Accept(_Step):
    """Store the delivery in the inbox (which is also its idempotency claim)."""

    __slots__ = ("body", "event", "fingerprint")

    def __init__(self, event: Event, fingerprint: str, body: bytes) -> None:
        self.event = event
        self.fingerprint = fingerprint
        self.body = body

    def run(self, dispatcher: Dispatcher) -> Accepted:
        event = self.event
        return cast(Inbox, dispatcher._inbox).accept(
            key=event.idempotency_key,
            event_type=event.event,
            event_id=event.event_id,
            fingerprint=self.fingerprint,
            body=self.body,
        )

    async def run_async(self, dispatcher: Dispatcher) -> Accepted:  # a blocking inbox's
        run_sync = dispatcher._run_sync
        return await (
            to_thread(self.run, dispatcher) if run_sync is None else run_sync(self.run)(dispatcher)
        )


class Dispatcher:
    """Receive IDWise webhooks: verify, parse, process each event exactly once, answer IDWise.

    Register handlers with `on` (per event type), `on_any` and `on_unknown`; then hand each
    request to `handle` (or `await handle_async`), usually through an adapter for your web
    framework. A delivery goes through size -> verify -> parse -> claim -> handlers -> complete,
    and its [`Outcome`][idwise_events.Outcome] becomes the HTTP status answered (IDWise's
    retries need exactly that policy, but you can override the status of any outcome).

    Args:
        verifier: How deliveries authenticate (the portal's setting); required, so that an
            endpoint is never open by omission. Pass [`NoAuth()`][idwise_events.NoAuth] to accept
            everything on purpose.
        store: Where events are claimed and remembered. A fresh
            [`MemoryStore`][idwise_events.MemoryStore] by default, which is right for one
            process; use [`SqlStore`][idwise_events.stores.sql.SqlStore] when several processes or
            machines receive webhooks, or events must be remembered across restarts.
        lease: How long a worker may hold an event before another delivery may take it over (its
            handlers should finish well within it).
        max_body_bytes: Refuse bodies larger than this (413), before anything else is done.
        statuses: Statuses to use instead of the defaults for some outcomes, such as
            ``{Outcome.UNAUTHORIZED: 403}``.
        run_sync: How `handle_async` runs plain handlers and a blocking store's calls: in
            the dispatcher's worker threads unless given. Django passes asgiref's
            ``sync_to_async``, so that the database connections they use are those Django
            manages (see
            [`as_async_store`][idwise_events.as_async_store]).

    Raises:
        TypeError: If ``verifier`` or ``store`` lacks the methods of its protocol, or ``lease``
            is not a timedelta.
        ValueError: If ``lease`` is not positive or longer than a day, ``max_body_bytes`` is not
            positive, or a status is not that of an HTTP answer with a body (1xx, 204, 205
            and 304 are not).

    Example:
        ```python
        dispatcher = Dispatcher(verifier=BearerAuth("kqX0..."))

        @dispatcher.on(FinishedJourney)
        def finished(event: FinishedJourney) -> None:
            print(event.body.journey_id, event.body.system_decision)
        ```
    """

    def __init__(
        self,
        *,
        verifier: Verifier,
        store: IdempotencyStore | AsyncIdempotencyStore | None = None,
        lease: timedelta = timedelta(minutes=5),
        max_body_bytes: int = DEFAULT_MAX_BYTES,
        statuses: Mapping[Outcome, int] | None = None,
        run_sync: SyncRunner | None = None,
        inbox: Inbox | None = None,
    ) -> None:
        if not isinstance(verifier, Verifier):
            raise TypeError(f"Dispatcher: verifier {type(verifier).__name__} has no verify()")
        store = MemoryStore() if store is None else store
        if not all(callable(getattr(store, name, None)) for name in ("claim", "complete")):
            raise TypeError(f"Dispatcher: store {type(store).__name__} has no claim()/complete()")
        check_lease(lease)
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise TypeError("Dispatcher: max_body_bytes must be an int")
        if max_body_bytes <= 0:
            raise ValueError("Dispatcher: max_body_bytes must be positive")
        self._responses = responses_for(statuses or {})
        warn_if_it_loses_events(statuses or {})
        self._verifier = verifier
        self._read_before_verifying = min(_READ_BEFORE_VERIFYING, max_body_bytes // 2)
        self._store = store
        self._async_store = as_async_store(store, run_sync=run_sync)
        self._run_sync = run_sync
        self._sync_store = (
            None if inspect.iscoroutinefunction(store.claim) else cast(IdempotencyStore, store)
        )
        self._lease = lease
        self._max_body_bytes = max_body_bytes
        # Leases are renewed while handlers run, from a thread for a sync store; a store of
        # one's own written before `renew` existed simply is not renewed.
        self._renew = getattr(self._sync_store, "renew", None)
        self._renew_async = (
            getattr(store, "renew", None) if self._sync_store is None else None  # async-only
        )
        if self._renew is None and self._renew_async is None:
            logger.warning(
                "store %s has no renew(): a handler that outlives the lease (%s) may run twice",
                type(store).__name__,
                lease,
            )
        self._registrations: list[tuple[frozenset[type[Any]] | None, _Handler]] = []
        self._handlers: dict[type[Any], tuple[_Handler, ...]] = dict.fromkeys(EVENT_MODELS, ())
        self._invalid_hooks: list[_Handler] = []
        self._mismatch_hooks: list[_Handler] = []
        self._accepted_hooks: list[_Handler] = []
        if inbox is not None and not isinstance(inbox, Inbox):
            raise TypeError(f"Dispatcher: inbox {type(inbox).__name__} lacks the Inbox methods")
        self._inbox = inbox
        # A MemoryStore remembers events in one process only, and so does a MemoryInbox (with
        # an inbox, the store is not used): watched until it is warned about.
        remembers = store if inbox is None else inbox
        self._memory_generation: int | None = (
            _process_generation if type(remembers) in (MemoryStore, MemoryInbox) else None
        )
        self._spawn_checked = False
        self._one_trip = False
        # The steps `handle_async` takes right away, without a coroutine: a store (or inbox)
        # that never blocks is simply called.
        inline: set[type[_Step]] = set()
        if self._sync_store is not None and not getattr(store, "blocking", True):
            inline |= {_Claim, _Complete, _Release}
        if inbox is not None and not inbox.blocking:
            inline.add(_Accept)
        self._inline_steps = frozenset(inline)
        self._update_one_trip()

    @property
    def verifier(self) -> Verifier:
        """The verifier every delivery must pass."""
        return self._verifier

    @property
    def store(self) -> IdempotencyStore | AsyncIdempotencyStore:
        """The idempotency store events are claimed in."""
        return self._store

    @property
    def inbox(self) -> Inbox | None:
        """Where deliveries are accepted for processing by workers, if the dispatcher has one."""
        return self._inbox

    @property
    def lease(self) -> timedelta:
        """How long a claim holds an event before another delivery may take it over."""
        return self._lease

    @property
    def max_body_bytes(self) -> int:
        """The largest body accepted; adapters refuse a larger ``Content-Length`` unread."""
        return self._max_body_bytes

    @property
    def statuses(self) -> Mapping[Outcome, int]:
        """The status answered for each outcome (the defaults with your overrides)."""
        return MappingProxyType({outcome: r.status for outcome, r in self._responses.items()})

    def __repr__(self) -> str:
        count = len(self._registrations)
        return (
            f"Dispatcher(verifier={self._verifier!r}, store={self._store!r},"
            f" lease={self._lease}, handlers={count})"
        )

    # -- registration ----------------------------------------------------------------------

    @overload
    def on(self, event_type: type[E], /) -> Callable[[Callable[[E], R]], Callable[[E], R]]: ...
    @overload
    def on(
        self, event_type: type[E], other: type[E2], /
    ) -> Callable[[Callable[[E | E2], R]], Callable[[E | E2], R]]: ...
    @overload
    def on(
        self, event_type: type[E], other: type[E2], third: type[E3], /
    ) -> Callable[[Callable[[E | E2 | E3], R]], Callable[[E | E2 | E3], R]]: ...
    @overload
    def on(
        self, event_type: type[E], other: type[E2], third: type[E3], fourth: type[E4], /
    ) -> Callable[[Callable[[E | E2 | E3 | E4], R]], Callable[[E | E2 | E3 | E4], R]]: ...
    @overload
    def on(
        self,
        event_type: type[E],
        other: type[E2],
        third: type[E3],
        fourth: type[E4],
        fifth: type[E5],
        /,
    ) -> Callable[[Callable[[E | E2 | E3 | E4 | E5], R]], Callable[[E | E2 | E3 | E4 | E5], R]]: ...
    @overload
    def on(
        self, *event_types: type[Event]
    ) -> Callable[[Callable[[Any], R]], Callable[[Any], R]]: ...

    def on(self, *event_types: type[Any]) -> Callable[[Callable[[Any], R]], Callable[[Any], R]]:
        """Register the decorated function to handle events of the given types.

        The handler receives the typed event (type checkers see its parameter as that type, or
        the union of the types given, up to five; with more, as any event). It may be a plain
        function or a coroutine function. Several handlers of one type run in the order they
        were registered, `on_any` ones included; if one raises, the rest do not run, the claim
        is released and the delivery gets a 500, so IDWise's retry runs them all again: make
        handlers idempotent or give each a single job.

        Args:
            *event_types: Event classes such as [`FinishedJourney`][idwise_events.FinishedJourney]
                (or [`UnknownEvent`][idwise_events.UnknownEvent], as `on_unknown` does).

        Raises:
            TypeError: If no type is given or one is not an event class.
        """
        if not event_types:
            raise TypeError("on() needs at least one event class, such as FinishedJourney")
        for event_type in event_types:
            if event_type not in EVENT_MODELS:
                raise TypeError(_not_an_event_class(event_type))

        def register(handler: Callable[[Any], R]) -> Callable[[Any], R]:
            self._register(frozenset(event_types), handler)
            return handler

        return register

    def on_any(self, handler: Callable[[Event], R]) -> Callable[[Event], R]:
        """Register the decorated function for every event, known or unknown.

        It runs in registration order among the typed handlers of each event.
        """
        self._register(None, handler)
        return handler

    def on_unknown(self, handler: Callable[[UnknownEvent], R]) -> Callable[[UnknownEvent], R]:
        """Register the decorated function for events whose name this version does not know.

        Such deliveries are acknowledged (200) once the handlers return, so IDWise stops
        retrying; the event keeps its name and raw body.
        """
        self._register(frozenset({UnknownEvent}), handler)
        return handler

    def on_invalid(
        self, hook: Callable[[WebhookRequest, PayloadError], R]
    ) -> Callable[[WebhookRequest, PayloadError], R]:
        """Register a hook for authenticated deliveries that are not valid webhooks (the 400s).

        It receives the request (its raw body included) and the
        [`PayloadError`][idwise_events.PayloadError], to keep them for inspection. A hook that
        raises is logged and does not change the answer.
        """
        self._invalid_hooks.append(_Handler(hook))
        self._update_one_trip()
        return hook

    def on_fingerprint_mismatch(
        self, hook: Callable[[Event, WebhookRequest], R]
    ) -> Callable[[Event, WebhookRequest], R]:
        """Register a hook for an event id delivered again with a different body.

        Other bytes: the same JSON with its keys in another order counts as another body.
        IDWise is expected to repeat the same body on retries, so this points at a sender bug
        or a forgery with valid credentials. The delivery is still treated by its idempotency
        key (processed once); the hook receives the event as parsed now and the request. A hook
        that raises is logged and does not change the answer.
        """
        self._mismatch_hooks.append(_Handler(hook))
        self._update_one_trip()
        return hook

    def on_accepted(self, hook: Callable[[int], R]) -> Callable[[int], R]:
        """Register a hook called with a delivery's inbox id once it is stored (inbox only).

        The queue integrations use it to enqueue the job that processes the delivery. It is
        called again for each replay through `replay`: keep it to enqueueing, not to counting
        new deliveries. A hook that raises is logged and does not change the answer: the
        delivery is stored, and the periodic sweep enqueues it again.
        """
        self._accepted_hooks.append(_Handler(hook))
        self._update_one_trip()
        return hook

    def replay(self, delivery_id: int) -> bool:
        """Make a done or dead inbox delivery pending again, and hand it to the workers now.

        [`Inbox.replay`][idwise_events.Inbox.replay] makes it pending; a queue's workers would
        then wait for the next sweep to get its job. This also calls the `on_accepted` hooks,
        as for a delivery just accepted, so Celery or the PostgreSQL queue gets the job at once
        and the embedded worker wakes. A hook that raises is logged: the delivery is pending
        all the same, and the sweep enqueues it. With `DjangoInbox` inside a transaction
        (``ATOMIC_REQUESTS``, ``transaction.atomic``), the hooks are called once it commits, so
        that no worker is sent a delivery it would still see as done.

        Returns:
            True if it was replayed; False if it is unknown, pending or being processed.

        Raises:
            TypeError: If the dispatcher has no inbox.
            StoreError: If the inbox is unavailable (nothing was replayed).
        """
        inbox = self._inbox_for("replay")
        if not inbox.replay(delivery_id):
            return False
        on_commit: Callable[[Callable[[], None]], None] | None = getattr(inbox, "on_commit", None)
        if on_commit is None:
            self._replayed(delivery_id)
        else:
            on_commit(lambda: self._replayed(delivery_id))
        return True

    async def replay_async(self, delivery_id: int) -> bool:
        """`replay` from async code: a blocking inbox in a worker thread, coroutine hooks awaited.

        Returns:
            True if it was replayed; False if it is unknown, pending or being processed.

        Raises:
            TypeError: If the dispatcher has no inbox.
            StoreError: If the inbox is unavailable (nothing was replayed).
        """
        inbox = self._inbox_for("replay_async")
        run_sync = self._run_sync
        if getattr(inbox, "on_commit", None) is not None:
            # The hooks wait for the commit of a transaction that sync code holds: `replay`
            # there does it (a coroutine hook is awaited on this loop, as for `handle_async`).
            import asyncio

            serving = _serving_loop.set(asyncio.get_running_loop())
            try:
                if run_sync is None:
                    return await to_thread(self.replay, delivery_id)
                replayed_there: bool = await run_sync(self.replay)(delivery_id)
                return replayed_there
            finally:
                _serving_loop.reset(serving)
        if not inbox.blocking:
            replayed = inbox.replay(delivery_id)
        elif run_sync is None:
            replayed = await to_thread(inbox.replay, delivery_id)
        else:
            replayed = await run_sync(inbox.replay)(delivery_id)
        if not replayed:
            return False
        marked = replaying.set(True)
        try:
            for hook in self._accepted_hooks:
                try:
                    await hook.call_async((delivery_id,), run_sync)
                except Exception as failure:
                    _replay_hook_failed(hook, delivery_id, failure)
        finally:
            replaying.reset(marked)
        return True

    def _inbox_for(self, method: str) -> Inbox:
        if self._inbox is None:
            raise TypeError(f"{method}: this dispatcher has no inbox: create it with inbox=")
        return self._inbox

    def _replayed(self, delivery_id: int) -> None:
        """Call the on_accepted hooks for a delivery just replayed; log those that raise."""
        marked = replaying.set(True)
        try:
            for hook in self._accepted_hooks:
                try:
                    hook.call((delivery_id,))
                except Exception as failure:
                    _replay_hook_failed(hook, delivery_id, failure)
        finally:
            replaying.reset(marked)

    def dispatch(self, event: Event) -> None:
        """Run the handlers registered for ``event`` now, in registration order.

        This is what a delivery runs once claimed, without the claim: the inbox workers call it,
        and tests may too. The first handler that raises stops the others; its exception
        propagates.
        """
        for handler in self._handlers[type(event)]:
            handler.call((event,))

    async def dispatch_async(self, event: Event) -> None:
        """`dispatch` from async code: coroutine handlers awaited, plain ones in a thread."""
        await self._dispatch_async(event, HandlerThread())

    async def _dispatch_async(self, event: Event, thread: HandlerThread) -> None:
        """`dispatch_async`, where a cancelled plain handler goes on in ``thread``."""
        for handler in self._handlers[type(event)]:
            calling = handler.call_async((event,), self._run_sync)
            await (calling if handler.is_async else thread.run(calling))

    def _register(self, types: frozenset[type[Any]] | None, handler: Callable[..., object]) -> None:
        if any(kinds == types and h.func == handler for kinds, h in self._registrations):
            # It would run twice per event: a decorator applied twice, setup code run twice.
            logger.warning(
                "%s is registered for these events already: it runs once per event",
                _Handler(handler).name,
            )
            return
        self._registrations.append((types, _Handler(handler)))
        self._handlers = {
            model: tuple(h for kinds, h in self._registrations if kinds is None or model in kinds)
            for model in EVENT_MODELS
        }
        self._update_one_trip()

    def _update_one_trip(self) -> None:
        """Whether `handle_async` may run a whole delivery in one trip to a worker thread.

        True when nothing is a coroutine (no async handler or hook, a sync store and inbox) and
        something blocks (a plain handler, a blocking store): then one trip replaces several.
        """
        hooks = [h for _, h in self._registrations]
        hooks += self._invalid_hooks + self._mismatch_hooks + self._accepted_hooks
        if self._sync_store is None or any(h.is_async for h in hooks):
            self._one_trip = False
            return
        inbox = self._inbox
        blocking = getattr(self._store, "blocking", True) if inbox is None else inbox.blocking
        self._one_trip = bool(self._registrations) or blocking

    # -- handling --------------------------------------------------------------------------

    def early_response(
        self,
        method: str,
        content_length: int | str | None = None,
        client_ip: str | None = None,
        *,
        multiprocess: bool = False,
        headers: Headers | None = None,
    ) -> WebhookResponse | None:
        """The answer to give before reading the body, or ``None`` to go on and read it.

        Adapters call it first: a method other than POST gets 405, and a ``Content-Length``
        over ``max_body_bytes`` gets 413 without the body being read. Given the ``headers`` (a
        mapping or a list: they are read again with the body), a body announcing more than
        64 KiB (or half of ``max_body_bytes``) is read only if the request is authentic: else
        401 at once, so that a sender without credentials cannot make the app take in that
        much for each connection it keeps open (when the verifier reads only the headers and
        the peer's address, as ours do). A chunked body, whose size is known only once read,
        is read up to the limit first, so that one over it gets 413 whoever sent it.
        ``client_ip`` (the connecting peer) goes into the log record of such a refusal. WSGI
        adapters pass the server's ``wsgi.multiprocess`` as ``multiprocess``: a `MemoryStore`,
        one per process, is then warned about once.
        """
        if multiprocess and self._memory_generation is not None:
            self._check_processes(multiprocess=True)
        started = time.perf_counter()
        if method != "POST":  # methods are case-sensitive (RFC 9110): `post` is another one
            return self._answer(Delivered(started, client_ip), Outcome.METHOD_NOT_ALLOWED)
        length = parse_content_length(content_length)
        if length is not None and length > self._max_body_bytes:
            return self._answer(Delivered(started, client_ip), Outcome.TOO_LARGE)
        if length is not None and length > self._read_before_verifying and headers is not None:
            # (IDWise's bodies are smaller: read first, and verified with them, as ever.)
            if not decides_from_headers(self._verifier):
                return None
            try:
                self._verifier.verify(WebhookRequest(b"", headers, client_ip))
            except VerificationError as refused:
                delivered = Delivered(started, client_ip)
                return self._answer(delivered, Outcome.UNAUTHORIZED, note=refused.reason or None)
        return None

    def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Process one delivery and return the answer for IDWise.

        Coroutine handlers run in a fresh event loop (``asyncio.run``); from async code, use
        `handle_async` instead.

        Raises:
            TypeError: If the store is async-only (use `handle_async`).
        """
        if self._sync_store is None:
            raise TypeError("this dispatcher's store is async: use `await handle_async(request)`")
        if self._memory_generation is not None and (
            _process_generation != self._memory_generation or not self._spawn_checked
        ):
            self._check_processes()
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                try:
                    result = step.run(self)
                except BaseException as exc:  # thrown back into the flow, which decides
                    step = flow.throw(exc)
                else:
                    step = flow.send(result)
        except StopIteration as done:
            response: WebhookResponse = done.value
            return response

    async def handle_async(self, request: WebhookRequest) -> WebhookResponse:
        """Process one delivery from async code and return the answer for IDWise.

        Coroutine handlers are awaited; plain ones run in a worker thread, as do the calls of a
        blocking store such as `SqlStore`, so the event loop never waits on them (through
        ``run_sync`` if the dispatcher was given one). When nothing is a coroutine, the whole
        delivery takes one trip to a worker thread rather than one per call.
        """
        if self._memory_generation is not None and (
            _process_generation != self._memory_generation or not self._spawn_checked
        ):
            self._check_processes()
        if self._one_trip:
            return await self._one_trip_async(request)
        flow = self._flow(request)
        inline = self._inline_steps
        try:
            step = next(flow)
            while True:
                try:
                    result = step.run(self) if type(step) in inline else await step.run_async(self)
                except BaseException as exc:  # cancellation included: the flow releases
                    step = flow.throw(exc)
                else:
                    step = flow.send(result)
        except StopIteration as done:
            response: WebhookResponse = done.value
            return response

    async def _one_trip_async(self, request: WebhookRequest) -> WebhookResponse:
        """The whole delivery in one worker thread (nothing is a coroutine)."""
        import asyncio

        serving = _serving_loop.set(asyncio.get_running_loop())  # seen by the thread's copy
        try:
            if self._run_sync is None:
                return await to_thread(self.handle, request)
            response: WebhookResponse = await self._run_sync(self.handle)(request)
            return response
        except asyncio.CancelledError:
            logger.warning(
                "a delivery was cancelled while it waited for a worker thread; if"
                " its handlers had started, they go on (a thread cannot be interrupted), and its"
                " claim is completed or released when they end (a retry meanwhile gets 409)"
            )
            raise
        finally:
            _serving_loop.reset(serving)

    def _check_processes(self, *, multiprocess: bool = False) -> None:
        """Warn, once, when a MemoryStore serves one of several processes: each has its own.

        Seen when the dispatcher was built in a process that forked this one (``gunicorn
        --preload``), in a server's spawned worker process (``uvicorn --workers``), or when the
        WSGI server says it runs several processes (``multiprocess``).
        """
        if not (multiprocess or _process_generation != self._memory_generation):
            if self._spawn_checked:
                return
            import multiprocessing

            self._spawn_checked = True
            if multiprocessing.parent_process() is None:
                return
        self._memory_generation = None
        if self._inbox is None:
            logger.warning(
                "this dispatcher's MemoryStore is per process, and this is one of"
                " several worker processes: a retry reaching another process runs the handlers"
                " again. Use SqlStore (SQLite on one machine, PostgreSQL across machines): see"
                " the Backends section of the docs' Idempotency page."
            )
        else:
            logger.warning(
                "this dispatcher's MemoryInbox is per process, and this is one of several"
                " worker processes: a retry reaching another process runs the handlers again,"
                " and a process that stops loses what it holds. Use SqlInbox: see the docs'"
                " Inbox page."
            )

    def _answer(
        self,
        delivered: Delivered,
        outcome: Outcome,
        *,
        retry_after: int | None = None,
        detail: str | None = None,
        note: str | None = None,
        exc_info: BaseException | None = None,
        level: int | None = None,
    ) -> WebhookResponse:
        response = respond(self._responses, outcome, retry_after=retry_after, detail=detail)
        log_delivery(
            delivered,
            outcome,
            response.status,
            detail=detail,
            note=note,
            exc_info=exc_info,
            level=level,
        )
        return response

    def _flow(self, request: WebhookRequest) -> Generator[_Step, Any, WebhookResponse]:
        """One delivery, start to answer; yields the steps that `handle*` must take for it."""
        delivered = Delivered(time.perf_counter(), request.client_ip)
        body = request.body
        if len(body) > self._max_body_bytes:
            return self._answer(delivered, Outcome.TOO_LARGE)
        try:
            self._verifier.verify(request)
        except VerificationError as refused:
            # The reason goes to the log only: the answer never says what failed.
            return self._answer(delivered, Outcome.UNAUTHORIZED, note=refused.reason or None)
        try:
            event = parse_event(body, max_bytes=self._max_body_bytes)
        except PayloadError as invalid:
            for hook in self._invalid_hooks:
                yield from self._hook(hook, (request, invalid))
            return self._answer(delivered, Outcome.INVALID, detail=str(invalid))
        delivered.event = event
        if self._inbox is not None:
            return (yield from self._accept(delivered, event, request))

        key = event.idempotency_key
        try:
            claim = yield _Claim(key, fingerprint(body))
        except StoreError as unavailable:  # the one place a store outage becomes an answer
            return self._answer(
                delivered,
                Outcome.STORE_UNAVAILABLE,
                retry_after=UNAVAILABLE_RETRY_AFTER,
                note=str(unavailable),
            )
        if claim.fingerprint_mismatch:
            try:
                for hook in self._mismatch_hooks:
                    yield from self._hook(hook, (event, request))
            except BaseException:  # interrupted (cancelled, Ctrl-C): a claim taken is released
                if isinstance(claim, Claimed):
                    with suppress(StoreError):  # else it is free once its lease runs out
                        yield _Release(key, claim.token, None, interrupted=True)
                raise
        if not isinstance(claim, Claimed):
            if isinstance(claim, Completed):
                return self._answer(delivered, Outcome.DUPLICATE)
            wait = math.ceil(claim.retry_after.total_seconds())
            return self._answer(delivered, Outcome.IN_PROGRESS, retry_after=wait)

        token = claim.token
        hold = self._hold(key, token)
        for handler in self._handlers[type(event)]:
            call = _Call(handler, (event,))
            try:
                yield call
            except BaseException as failure:  # interrupted (cancelled, Ctrl-C) as well as raised
                released = "claim released"
                running = call.running
                if running is not None:  # cancelled: the handler's thread goes on
                    released = "claim released once the handler's thread ends"
                try:
                    interrupted = not isinstance(failure, Exception)
                    yield _Release(key, token, hold, running, interrupted=interrupted)
                except StoreError as release_error:
                    # The lease expires by itself; what matters in the log is the handler's error.
                    released = f"releasing the claim failed too: {release_error}"
                if not isinstance(failure, Exception):
                    logger.warning(
                        "%s %s interrupted by %s in handler %s; %s",
                        printable(event.event),
                        printable(event.event_id or "(no eventId)"),
                        type(failure).__name__,
                        handler.name,
                        released,
                    )
                    raise
                return self._answer(
                    delivered,
                    Outcome.HANDLER_FAILED,
                    note=f"handler {handler.name} raised; {released}",
                    exc_info=failure,
                )
        if hold is not None:
            hold.stop()
        note: str | None = None
        try:
            if not (yield _Complete(key, token)):
                note = "the lease expired before the handlers returned: it may run twice"
        except StoreError as lost:
            # The handlers ran: acknowledging is right. A 503 would only make IDWise retry and,
            # once the lease expired, run them a second time.
            note = f"processed, but marking it complete failed ({lost})"
        return self._answer(
            delivered,
            Outcome.PROCESSED,
            note=note,
            level=logging.INFO if note is None else logging.WARNING,
        )

    def _accept(
        self, delivered: Delivered, event: Event, request: WebhookRequest
    ) -> Generator[_Step, Any, WebhookResponse]:
        """Store the delivery in the inbox and acknowledge it; a worker runs the handlers."""
        try:
            accepted = yield _Accept(event, fingerprint(request.body), request.body)
        except StoreError as unavailable:
            return self._answer(
                delivered,
                Outcome.STORE_UNAVAILABLE,
                retry_after=UNAVAILABLE_RETRY_AFTER,
                note=str(unavailable),
            )
        if accepted.fingerprint_mismatch:
            report_fingerprint_mismatch(event.idempotency_key)  # as the stores do for a claim
            for hook in self._mismatch_hooks:
                yield from self._hook(hook, (event, request))
        if accepted.duplicate:
            return self._answer(delivered, Outcome.DUPLICATE)
        for hook in self._accepted_hooks:
            yield from self._hook(hook, (accepted.id,))
        return self._answer(delivered, Outcome.ACCEPTED, note=f"inbox delivery {accepted.id}")

    def _hold(self, key: str, token: str) -> Hold | None:
        """Keep the claim's lease renewed while the handlers run, if the store can renew."""
        if self._renew is not None:
            return hold(key, token, self._renew, self._lease)
        if self._renew_async is not None:
            return hold_async(key, token, self._renew_async, self._lease)
        return None

    def _hook(self, hook: _Handler, args: tuple[Any, ...]) -> Generator[_Step, Any, None]:
        try:
            yield _Call(hook, args)
        except Exception:
            logger.exception("hook %s raised; the answer is unchanged", hook.name)


def _replay_hook_failed(hook: _Handler, delivery_id: int, failure: Exception) -> None:
    """Log an on_accepted hook that raised for a replayed delivery, naming what it raised."""
    logger.error(
        "hook %s raised %s on replayed delivery %d; it is pending, and the next sweep enqueues it",
        hook.name,
        printable(error_line(failure), 300),  # the first line: the traceback has the rest
        delivery_id,
        exc_info=failure,
        extra={"replayed_delivery_id": delivery_id},  # for the Django admin's message
    )
