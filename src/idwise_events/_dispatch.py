"""`Dispatcher`: one delivery, from the raw request to the answer IDWise gets.

The flow of a delivery is written once, in `Dispatcher._flow`: size, verify, parse, claim,
handlers, complete. It is a generator that *yields* each call that may block or may be a
coroutine (a store call, a handler, a hook) instead of making it. `Dispatcher.handle` makes those
calls directly; `Dispatcher.handle_async` awaits them (running synchronous handlers and blocking
stores in worker threads). The two differ in nothing else.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, TypeVar, cast, get_args, overload

from ._async_store import AsyncIdempotencyStore, SyncRunner, as_async_store
from ._auth import Verifier
from ._errors import PayloadError, StoreError, VerificationError
from ._events import Event, KnownEvent, UnknownEvent
from ._outcomes import UNAVAILABLE_RETRY_AFTER, Outcome, answer, responses_for
from ._parse import DEFAULT_MAX_BYTES, parse_event
from ._request import WebhookRequest, WebhookResponse, parse_content_length
from ._store import (
    Claimed,
    Completed,
    IdempotencyStore,
    MemoryStore,
    check_lease,
    fingerprint,
)

__all__ = ["Dispatcher"]

logger = logging.getLogger("idwise_events")

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)
E3 = TypeVar("E3", bound=Event)
R = TypeVar("R")

# Every class `parse_event` can return: handler lists are resolved for each one at registration.
EVENT_MODELS: tuple[type[Any], ...] = (*get_args(get_args(KnownEvent)[0]), UnknownEvent)


# A step the flow cannot take itself, because it may block or be a coroutine: (what, a, b).
_Step = tuple[int, Any, Any]
_CLAIM, _COMPLETE, _RELEASE, _CALL = range(4)


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

            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(result)
            result.close()
            raise RuntimeError(
                f"{self.name} is a coroutine function and Dispatcher.handle() was called from a"
                " running event loop: use `await dispatcher.handle_async(request)` there"
            )
        return result

    async def call_async(self, args: tuple[Any, ...], run_sync: SyncRunner | None) -> object:
        if self.is_async:
            return await cast(Awaitable[object], self.func(*args))
        if run_sync is None:
            import asyncio

            result = await asyncio.to_thread(self.func, *args)
        else:
            result = await run_sync(self.func)(*args)
        return await result if inspect.iscoroutine(result) else result


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
        run_sync: How `handle_async` runs plain handlers and a blocking store's calls:
            ``asyncio.to_thread`` unless given. Django passes asgiref's ``sync_to_async``, so
            that the database connections they use are those Django manages (see
            [`as_async_store`][idwise_events.as_async_store]).

    Raises:
        TypeError: If ``verifier`` or ``store`` lacks the methods of its protocol, or ``lease``
            is not a timedelta.
        ValueError: If ``lease`` is not positive or longer than a day, ``max_body_bytes`` is not
            positive, or a status is not an HTTP status code.

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
        self._verifier = verifier
        self._store = store
        self._async_store = as_async_store(store, run_sync=run_sync)
        self._run_sync = run_sync
        self._sync_store = (
            None if inspect.iscoroutinefunction(store.claim) else cast(IdempotencyStore, store)
        )
        self._lease = lease
        self._max_body_bytes = max_body_bytes
        self._registrations: list[tuple[frozenset[type[Any]] | None, _Handler]] = []
        self._handlers: dict[type[Any], tuple[_Handler, ...]] = dict.fromkeys(EVENT_MODELS, ())
        self._invalid_hooks: list[_Handler] = []
        self._mismatch_hooks: list[_Handler] = []

    @property
    def verifier(self) -> Verifier:
        """The verifier every delivery must pass."""
        return self._verifier

    @property
    def store(self) -> IdempotencyStore | AsyncIdempotencyStore:
        """The idempotency store events are claimed in."""
        return self._store

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
        self, *event_types: type[Event]
    ) -> Callable[[Callable[[Any], R]], Callable[[Any], R]]: ...

    def on(self, *event_types: type[Any]) -> Callable[[Callable[[Any], R]], Callable[[Any], R]]:
        """Register the decorated function to handle events of the given types.

        The handler receives the typed event (type checkers see its parameter as that type, or
        the union of the types given). It may be a plain function or a coroutine function.
        Several handlers of one type run in the order they were registered, `on_any` ones
        included; if one raises, the rest do not run, the claim is released and the delivery
        gets a 500, so IDWise's retry runs them all again: make handlers idempotent or
        give each a single job.

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
                raise TypeError(
                    f"on() takes event classes such as FinishedJourney, not {event_type!r}"
                )

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
        return hook

    def on_fingerprint_mismatch(
        self, hook: Callable[[Event, WebhookRequest], R]
    ) -> Callable[[Event, WebhookRequest], R]:
        """Register a hook for an event id delivered again with a different body.

        IDWise repeats the same body on retries, so this means a sender bug or a forgery with
        valid credentials. The delivery is still treated by its idempotency key (processed
        once); the hook receives the event as parsed now and the request. A hook that raises is
        logged and does not change the answer.
        """
        self._mismatch_hooks.append(_Handler(hook))
        return hook

    def _register(self, types: frozenset[type[Any]] | None, handler: Callable[..., object]) -> None:
        self._registrations.append((types, _Handler(handler)))
        self._handlers = {
            model: tuple(h for kinds, h in self._registrations if kinds is None or model in kinds)
            for model in EVENT_MODELS
        }

    # -- handling --------------------------------------------------------------------------

    def early_response(
        self, method: str, content_length: int | str | None = None, client_ip: str | None = None
    ) -> WebhookResponse | None:
        """The answer to give before reading the body, or ``None`` to go on and read it.

        Adapters call it first: a method other than POST gets 405, and a ``Content-Length``
        over ``max_body_bytes`` gets 413 without the body being read. ``client_ip`` (the
        connecting peer) goes into the log record of such a refusal.
        """
        started = time.perf_counter()
        if method.upper() != "POST":
            return answer(self._responses, Outcome.METHOD_NOT_ALLOWED, started, client_ip=client_ip)
        length = parse_content_length(content_length)
        if length is not None and length > self._max_body_bytes:
            return answer(self._responses, Outcome.TOO_LARGE, started, client_ip=client_ip)
        return None

    def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Process one delivery and return the answer for IDWise.

        Coroutine handlers run in a fresh event loop (``asyncio.run``); from async code, use
        `handle_async` instead.

        Raises:
            TypeError: If the store is async-only (use `handle_async`).
        """
        store = self._sync_store
        if store is None:
            raise TypeError("this dispatcher's store is async: use `await handle_async(request)`")
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                what, a, b = step
                try:
                    if what == _CALL:
                        result = a.call(b)
                    elif what == _CLAIM:
                        result = store.claim(a, lease=self._lease, fingerprint=b)
                    elif what == _COMPLETE:
                        result = store.complete(a, b)
                    else:
                        result = store.release(a, b)
                except Exception as exc:  # thrown back into the flow, which decides what it means
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
        ``run_sync`` if the dispatcher was given one).
        """
        store = self._async_store
        run_sync = self._run_sync
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                what, a, b = step
                try:
                    if what == _CALL:
                        result = await a.call_async(b, run_sync)
                    elif what == _CLAIM:
                        result = await store.claim(a, lease=self._lease, fingerprint=b)
                    elif what == _COMPLETE:
                        result = await store.complete(a, b)
                    else:
                        result = await store.release(a, b)
                except Exception as exc:  # thrown back into the flow, which decides what it means
                    step = flow.throw(exc)
                else:
                    step = flow.send(result)
        except StopIteration as done:
            response: WebhookResponse = done.value
            return response

    def _flow(self, request: WebhookRequest) -> Generator[_Step, Any, WebhookResponse]:
        """One delivery, start to answer; yields the calls that `handle*` must make for it."""
        started = time.perf_counter()
        body = request.body
        if len(body) > self._max_body_bytes:
            return answer(self._responses, Outcome.TOO_LARGE, started, request)
        try:
            self._verifier.verify(request)
        except VerificationError:
            return answer(self._responses, Outcome.UNAUTHORIZED, started, request)
        try:
            event = parse_event(body, max_bytes=self._max_body_bytes)
        except PayloadError as invalid:
            for hook in self._invalid_hooks:
                yield from self._hook(hook, (request, invalid))
            return answer(self._responses, Outcome.INVALID, started, request, detail=str(invalid))

        key = event.idempotency_key
        try:
            claim = yield (_CLAIM, key, fingerprint(body))
        except StoreError as unavailable:  # the one place a store outage becomes an answer
            return answer(
                self._responses,
                Outcome.STORE_UNAVAILABLE,
                started,
                request,
                event,
                retry_after=UNAVAILABLE_RETRY_AFTER,
                note=str(unavailable),
            )
        if claim.fingerprint_mismatch:
            for hook in self._mismatch_hooks:
                yield from self._hook(hook, (event, request))
        if not isinstance(claim, Claimed):
            if isinstance(claim, Completed):
                return answer(self._responses, Outcome.DUPLICATE, started, request, event)
            wait = math.ceil(claim.retry_after.total_seconds())
            return answer(
                self._responses, Outcome.IN_PROGRESS, started, request, event, retry_after=wait
            )

        for handler in self._handlers[type(event)]:
            try:
                yield (_CALL, handler, (event,))
            except Exception as failure:
                released = "claim released"
                try:
                    yield (_RELEASE, key, claim.token)
                except StoreError as release_error:
                    # The lease expires by itself; what matters in the log is the handler's error.
                    released = f"releasing the claim failed too: {release_error}"
                return answer(
                    self._responses,
                    Outcome.HANDLER_FAILED,
                    started,
                    request,
                    event,
                    note=f"handler {handler.name} raised; {released}",
                    exc_info=failure,
                )
        note: str | None = None
        try:
            if not (yield (_COMPLETE, key, claim.token)):
                note = "the lease expired before the handlers returned: it may run twice"
        except StoreError as lost:
            # The handlers ran: acknowledging is right. A 503 would only make IDWise retry and,
            # once the lease expired, run them a second time.
            note = f"processed, but marking it complete failed ({lost})"
        return answer(
            self._responses,
            Outcome.PROCESSED,
            started,
            request,
            event,
            note=note,
            level=logging.INFO if note is None else logging.WARNING,
        )

    def _hook(self, hook: _Handler, args: tuple[Any, ...]) -> Generator[_Step, Any, None]:
        try:
            yield (_CALL, hook, args)
        except Exception:
            logger.exception("idwise_events: hook %s raised; the answer is unchanged", hook.name)
