"""Dispatcher: every row of the status policy, handler order, hooks, logging, sync and async."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from idwise_events import (
    BearerAuth,
    Claimed,
    ClaimResult,
    Dispatcher,
    Event,
    EventType,
    FinishedJourney,
    FinishedJourneyBody,
    IdempotencyStore,
    IpAllowlist,
    ManuallyReviewed,
    MemoryStore,
    NoAuth,
    Outcome,
    PayloadError,
    StoreError,
    UnknownEvent,
    VerificationError,
    WebhookRequest,
    WebhookResponse,
    as_async_store,
    fingerprint,
)
from idwise_events._text import escaped
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import FakeClock, build_request, make_event

from .conftest import CANARY, cancel_once

VERIFIER = BearerAuth(CANARY)
LEASE = timedelta(minutes=5)


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(verifier=VERIFIER)


def deliver(dispatcher: Dispatcher, event: Event | bytes, **options: Any) -> WebhookResponse:
    return dispatcher.handle(build_request(event, VERIFIER, **options))


def outcome(response: WebhookResponse) -> str:
    body: dict[str, str] = json.loads(response.body)
    return body["outcome"]


class RecordingVerifier:
    """A verifier of the user's own that records that it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, request: WebhookRequest) -> None:
        self.calls += 1


class FailingStore:
    """A user's store that delegates to MemoryStore but fails the chosen operations."""

    blocking = False

    def __init__(self, *failing: str) -> None:
        self.inner = MemoryStore()
        self.failing = set(failing)

    def _check(self, operation: str) -> None:
        if operation in self.failing:
            raise StoreError(f"{operation} failed")

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        self._check("claim")
        return self.inner.claim(key, lease=lease, fingerprint=fingerprint)

    def complete(self, key: str, token: str) -> bool:
        self._check("complete")
        return self.inner.complete(key, token)

    def release(self, key: str, token: str) -> bool:
        self._check("release")
        return self.inner.release(key, token)

    def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        self._check("renew")
        return self.inner.renew(key, token, lease=lease)

    def purge(self) -> int:
        return self.inner.purge()


# -- the status policy, row by row ---------------------------------------------------------


def test_an_authenticated_event_is_processed_once_and_its_retry_is_acknowledged(
    dispatcher: Dispatcher,
) -> None:
    """200 processed, then 200 duplicate for the retry, with the handler run only once."""
    seen: list[str | None] = []
    dispatcher.on(FinishedJourney)(lambda event: seen.append(event.event_id))
    event = make_event(FinishedJourney)

    first, retry = deliver(dispatcher, event), deliver(dispatcher, event)

    assert (first.status, outcome(first)) == (200, "processed")
    assert (retry.status, outcome(retry)) == (200, "duplicate")
    assert seen == [event.event_id]
    assert first.headers["Content-Type"] == "application/json"


def test_an_oversized_body_gets_413_before_anything_else() -> None:
    """413 is decided on size alone: the verifier is not even asked."""
    verifier = RecordingVerifier()
    dispatcher = Dispatcher(verifier=verifier, max_body_bytes=64)

    response = dispatcher.handle(WebhookRequest(b"{" + b" " * 100 + b"}"))

    assert (response.status, outcome(response)) == (413, "too_large")
    assert verifier.calls == 0


def test_wrong_credentials_get_401_and_the_body_is_never_parsed(dispatcher: Dispatcher) -> None:
    """401 before parsing: a malformed body with wrong credentials is refused as unauthenticated."""
    invalid: list[PayloadError] = []
    dispatcher.on_invalid(lambda request, error: invalid.append(error))

    response = dispatcher.handle(WebhookRequest(b"not json", {"Authorization": "Bearer guess"}))

    assert (response.status, response.body) == (401, b'{"outcome": "unauthorized"}')
    assert invalid == []


def test_a_401_is_logged_with_what_failed_and_answered_without_it(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator reads why (no header, another scheme, a wrong token); the sender does not."""
    caplog.set_level(logging.WARNING, logger="idwise_events")
    for headers, why in [
        ({}, "no Authorization header"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, "the Authorization header is not Bearer"),
        ({"Authorization": "Bearer guess"}, "the Bearer token is not one of those configured"),
    ]:
        caplog.clear()
        response = dispatcher.handle(WebhookRequest(b"{}", headers, "198.51.100.7"))

        assert (response.status, response.body) == (401, b'{"outcome": "unauthorized"}')
        [record] = caplog.records
        assert record.getMessage().endswith(f" ms ({why})")
        assert "guess" not in record.getMessage()


def test_an_invalid_body_gets_400_with_the_reason_and_reaches_the_on_invalid_hook(
    dispatcher: Dispatcher,
) -> None:
    """400 names the failing field; the hook sees the raw request and the PayloadError."""
    hooked: list[tuple[bytes, str]] = []
    dispatcher.on_invalid(lambda request, error: hooked.append((request.body, str(error))))
    body = b'{"event": "Finished Journey", "body": {"eventId": "e1"}}'

    response = deliver(dispatcher, body)

    assert response.status == 400
    detail = json.loads(response.body)["detail"]
    assert "body.journeyId: Field required" in detail
    assert hooked == [(body, detail)]


def test_a_failing_on_invalid_hook_is_logged_and_changes_nothing(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises still leaves the answer 400."""

    @dispatcher.on_invalid
    def broken(request: WebhookRequest, error: PayloadError) -> None:
        raise RuntimeError("hook bug")

    response = deliver(dispatcher, b"[]")

    assert response.status == 400
    assert any("hook" in r.getMessage() and r.exc_info for r in caplog.records)


def test_an_unknown_event_name_is_acknowledged_after_its_handlers_ran(
    dispatcher: Dispatcher,
) -> None:
    """200 for an event this version does not know; on_unknown and on_any handlers see it."""
    seen: list[tuple[str, str]] = []
    dispatcher.on_unknown(lambda event: seen.append(("unknown", event.event)))
    dispatcher.on_any(lambda event: seen.append(("any", event.event)))
    dispatcher.on(FinishedJourney)(lambda event: seen.append(("typed", event.event)))

    response = deliver(dispatcher, b'{"event": "Journey Archived", "body": {"eventId": "x1"}}')

    assert (response.status, outcome(response)) == (200, "processed")
    assert seen == [("unknown", "Journey Archived"), ("any", "Journey Archived")]


def test_a_delivery_while_another_worker_holds_the_event_gets_409_with_retry_after() -> None:
    """409 and a Retry-After of the lease's remaining time; the handler does not run."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    dispatcher = Dispatcher(verifier=VERIFIER, store=store, lease=LEASE)
    ran: list[Event] = []
    dispatcher.on_any(ran.append)
    event = make_event(FinishedJourney)
    request = build_request(event, VERIFIER)
    store.claim(event.idempotency_key, lease=LEASE, fingerprint=fingerprint(request.body))
    clock.advance(timedelta(seconds=100.5))

    response = dispatcher.handle(request)

    assert (response.status, outcome(response)) == (409, "in_progress")
    assert response.headers["Retry-After"] == "200"  # 199.5 s left, rounded up
    assert ran == []


def test_a_handler_error_gets_500_releases_the_claim_and_the_retry_runs_again(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """500 after a handler raised; the retry runs every handler again and gets 200."""
    calls: list[str] = []
    fail = [False, True]  # popped from the end: fail once, then succeed

    @dispatcher.on(FinishedJourney)
    def first(event: FinishedJourney) -> None:
        calls.append("first")

    @dispatcher.on(FinishedJourney)
    def flaky(event: FinishedJourney) -> None:
        calls.append("flaky")
        if fail.pop():
            raise RuntimeError("downstream API timed out")

    @dispatcher.on(FinishedJourney)
    def last(event: FinishedJourney) -> None:
        calls.append("last")

    event = make_event(FinishedJourney)
    failed = deliver(dispatcher, event)
    retried = deliver(dispatcher, event)

    assert (failed.status, outcome(failed)) == (500, "handler_failed")
    assert (retried.status, outcome(retried)) == (200, "processed")
    assert calls == ["first", "flaky", "first", "flaky", "last"]
    [record] = [r for r in caplog.records if getattr(r, "outcome", None) == "handler_failed"]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "downstream API timed out"
    assert "flaky raised; claim released" in record.getMessage()


def test_when_release_fails_too_the_handler_error_is_the_one_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500; the log record carries the handler's exception and mentions the failed release."""
    dispatcher = Dispatcher(verifier=VERIFIER, store=FailingStore("release"))

    @dispatcher.on_any
    def broken(event: Event) -> None:
        raise ValueError("the handler's own error")

    response = deliver(dispatcher, make_event(FinishedJourney))

    assert response.status == 500
    [record] = [r for r in caplog.records if getattr(r, "outcome", None) == "handler_failed"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "releasing the claim failed too" in record.getMessage()


def test_a_store_outage_gets_503_and_the_event_is_processed_once_the_store_is_back(
    tmp_path: Path,
) -> None:
    """503 with Retry-After while the database cannot be opened; nothing ran; then 200."""
    database = tmp_path / "missing-dir" / "events.db"
    down_store = SqlStore(f"sqlite:///{database}")
    down = Dispatcher(verifier=VERIFIER, store=down_store)
    ran: list[Event] = []
    down.on_any(ran.append)
    event = make_event(FinishedJourney)

    unavailable = deliver(down, event)

    assert (unavailable.status, outcome(unavailable)) == (503, "store_unavailable")
    assert unavailable.headers["Retry-After"] == "30"
    assert ran == []
    database.parent.mkdir()
    back_store = SqlStore(f"sqlite:///{database}")
    back = Dispatcher(verifier=VERIFIER, store=back_store)
    back.on_any(ran.append)
    processed = deliver(back, event)
    down_store.close()
    back_store.close()

    assert processed.status == 200
    assert [e.event_id for e in ran] == [event.event_id]


def test_a_failed_completion_after_the_handlers_ran_is_still_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200: the handlers ran, and a 503 would only make IDWise's retry run them again."""
    dispatcher = Dispatcher(verifier=VERIFIER, store=FailingStore("complete"))
    ran: list[Event] = []
    dispatcher.on_any(ran.append)

    response = deliver(dispatcher, make_event(FinishedJourney))

    assert (response.status, outcome(response)) == (200, "processed")
    assert len(ran) == 1
    assert any("marking it complete failed" in r.getMessage() for r in caplog.records)


def test_a_lease_lost_during_the_handlers_is_logged_as_a_possible_second_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If another delivery took the event over meanwhile, completion fails and the log says so."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    dispatcher = Dispatcher(verifier=VERIFIER, store=store, lease=LEASE)
    event = make_event(FinishedJourney)

    @dispatcher.on(FinishedJourney)
    def slow(received: FinishedJourney) -> None:
        clock.advance(LEASE * 2)  # the lease ran out; a retry takes the event over
        takeover = store.claim(event.idempotency_key, lease=LEASE, fingerprint="other")
        assert isinstance(takeover, Claimed)

    response = deliver(dispatcher, event)

    assert response.status == 200
    assert any(
        "lease expired before the handlers returned" in r.getMessage() for r in caplog.records
    )


def test_an_event_id_redelivered_with_another_body_reaches_the_mismatch_hook(
    dispatcher: Dispatcher,
) -> None:
    """The duplicate is still acknowledged; the hook sees the event as sent the second time."""
    mismatches: list[tuple[str | None, str]] = []
    dispatcher.on_fingerprint_mismatch(
        lambda event, request: mismatches.append((event.event_id, request.header("x-probe") or ""))
    )
    event = make_event(FinishedJourney)
    altered = make_event(FinishedJourney, event_id=event.event_id, system_decision="Refer")

    assert deliver(dispatcher, event).status == 200
    again = deliver(dispatcher, altered, headers={"X-Probe": "second"})

    assert (again.status, outcome(again)) == (200, "duplicate")
    assert mismatches == [(event.event_id, "second")]


def test_statuses_can_be_overridden_per_outcome() -> None:
    """The one documented way to change the policy: `statuses={Outcome...: status}`."""
    dispatcher = Dispatcher(
        verifier=VERIFIER, statuses={Outcome.UNAUTHORIZED: 403, Outcome.IN_PROGRESS: 503}
    )

    response = dispatcher.handle(WebhookRequest(b"{}"))

    assert response.status == 403
    assert dispatcher.statuses[Outcome.IN_PROGRESS] == 503
    assert dispatcher.statuses[Outcome.PROCESSED] == 200


@pytest.mark.parametrize(
    ("statuses", "warned"),
    [
        ({Outcome.HANDLER_FAILED: 200}, "HANDLER_FAILED answered 200 loses its events"),
        ({Outcome.STORE_UNAVAILABLE: 200}, "STORE_UNAVAILABLE answered 200 loses its events"),
        ({Outcome.PROCESSED: 202}, "PROCESSED answered 202: IDWise counts only 200"),
        ({Outcome.DUPLICATE: 409}, "DUPLICATE answered 409: IDWise counts only 200"),
        ({Outcome.UNAUTHORIZED: 200}, "UNAUTHORIZED answered 200 loses its events"),
        ({Outcome.INVALID: 200, Outcome.UNAUTHORIZED: 403}, None),  # deliberate, and safe
    ],
)
def test_statuses_that_lose_or_resend_events_are_warned_about(
    statuses: dict[Outcome, int], warned: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        Dispatcher(verifier=VERIFIER, statuses=statuses)

    said = [record.getMessage() for record in caplog.records]
    said = [message for message in said if message.startswith("statuses: ")]
    if warned is None:
        assert said == []
    else:
        assert len(said) == 1
        assert said[0].startswith(f"statuses: {warned}")


@pytest.mark.parametrize(
    ("method", "content_length", "status"),
    [
        ("GET", None, 405),
        ("put", "10", 405),
        ("POST", str(2**20 + 1), 413),
        ("POST", 2**20 + 1, 413),
        ("POST", str(2**20), None),
        ("post", None, 405),  # methods are case-sensitive
        ("POST", "12abc", None),  # not a length: the server or the body read will tell
    ],
)
def test_early_response_refuses_other_methods_and_announced_oversized_bodies(
    dispatcher: Dispatcher, method: str, content_length: str | int | None, status: int | None
) -> None:
    """Adapters ask before reading the body: 405 (with Allow: POST) and 413, or go on."""
    response = dispatcher.early_response(method, content_length)

    assert (response.status if response else None) == status
    if status == 405:
        assert response is not None
        assert response.headers["Allow"] == "POST"


class BodySignature:
    """A verifier of the user's own that reads the body (an HMAC, say): it needs the body first."""

    def verify(self, request: WebhookRequest) -> None:
        if request.body != b"signed":
            raise VerificationError("invalid credentials")


@pytest.mark.parametrize(
    ("content_length", "authorization", "status"),
    [
        (str(2**20), "Bearer forged", 401),  # large: refused before any of it is read
        ("65537", None, 401),
        (str(2**20), f"Bearer {CANARY}", None),  # authentic: read, then verified again with it
        ("65536", "Bearer forged", None),  # IDWise's size: read first (costs nothing), 401 after
        (None, "Bearer forged", None),  # chunked: read up to the limit, so that over it is 413
    ],
)
def test_early_response_refuses_a_large_body_without_credentials_before_reading_it(
    content_length: str | None,
    authorization: str | None,
    status: int | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = Dispatcher(verifier=VERIFIER & IpAllowlist(["203.0.113.0/24"]))
    headers = {} if authorization is None else {"Authorization": authorization}

    with caplog.at_level(logging.INFO, logger="idwise_events"):
        response = dispatcher.early_response("POST", content_length, "203.0.113.9", headers=headers)

    assert (response.status if response else None) == status
    if response is not None:
        assert json.loads(response.body)["outcome"] == "unauthorized"
        said = [record.getMessage() for record in caplog.records]
        assert any("203.0.113.9" in line and "unauthorized" in line for line in said), said
        assert CANARY not in caplog.text


class SignedBearer(BearerAuth):
    """A subclass of ours that also reads the body: it is the user's, asked with the body."""

    def verify(self, request: WebhookRequest) -> None:
        super().verify(request)
        BodySignature().verify(request)


@pytest.mark.parametrize(
    "verifier",
    [BodySignature(), VERIFIER & BodySignature(), SignedBearer(CANARY)],
    ids=["own", "all-of", "subclass"],
)
def test_early_response_leaves_a_verifier_that_may_read_the_body_until_the_body_is_read(
    verifier: Any,
) -> None:
    dispatcher = Dispatcher(verifier=verifier)
    authentic = {"Authorization": f"Bearer {CANARY}"}

    assert dispatcher.early_response("POST", str(2**20), headers=authentic) is None
    assert dispatcher.early_response("POST", str(2**20), headers={}) is None
    assert dispatcher.handle(WebhookRequest(b"signed", authentic)).status == 400  # not JSON
    assert dispatcher.handle(WebhookRequest(b"unsigned", authentic)).status == 401


def test_early_response_verifies_from_half_the_limit_when_that_is_less_than_64_kib() -> None:
    dispatcher = Dispatcher(verifier=VERIFIER, max_body_bytes=1000)
    forged = {"Authorization": "Bearer forged"}

    assert dispatcher.early_response("POST", "500", headers=forged) is None
    refused = dispatcher.early_response("POST", "501", headers=forged)
    assert refused is not None
    assert refused.status == 401


# -- handlers ------------------------------------------------------------------------------


def test_handlers_run_in_registration_order_with_on_any_among_them(
    dispatcher: Dispatcher,
) -> None:
    """Typed and on_any handlers interleave as registered; other types' handlers do not run."""
    order: list[str] = []
    dispatcher.on(FinishedJourney)(lambda event: order.append("typed-1"))
    dispatcher.on_any(lambda event: order.append("any"))
    dispatcher.on(ManuallyReviewed)(lambda event: order.append("other type"))
    dispatcher.on(FinishedJourney, ManuallyReviewed)(lambda event: order.append("typed-2"))

    deliver(dispatcher, make_event(FinishedJourney))

    assert order == ["typed-1", "any", "typed-2"]


def test_registration_refuses_what_is_not_an_event_class(dispatcher: Dispatcher) -> None:
    """on() needs event classes: a wire name, a body model or nothing at all is a TypeError."""
    with pytest.raises(TypeError, match="event class"):
        dispatcher.on()
    with pytest.raises(TypeError, match="event classes"):
        dispatcher.on("Finished Journey")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="callable"):
        dispatcher.on_any(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("Manually Reviewed", "for 'Manually Reviewed', pass ManuallyReviewed, not the name"),
        (EventType.AML_MONITOR_UPDATE, "for 'AML Monitor Update', pass AmlMonitorUpdate, not"),
        (Event, "for every event, register the handler with on_any"),
        (print, "first: @dispatcher.on(FinishedJourney), not @dispatcher.on, on print"),
        (FinishedJourneyBody, "not <class 'idwise_events._bodies.FinishedJourneyBody'>"),
    ],
)
def test_a_mistake_in_on_says_what_to_write_instead(
    dispatcher: Dispatcher, given: object, said: str
) -> None:
    """A name, an EventType, the Event union or a bare @on: the message gives the fix."""
    with pytest.raises(TypeError) as caught:
        dispatcher.on(cast(Any, given))

    assert said in str(caught.value)
    assert len(str(caught.value)) < 300


def test_the_same_handler_registered_twice_for_the_same_events_runs_once(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Setup code run twice must not run a handler twice per event: said, and registered once.

    For other events, or as on_any beside on, it is a registration of its own. A bound method
    is the same handler each time it is read (equal, though not identical).
    """
    ran: list[str] = []

    class Handlers:
        def method(self, event: Event) -> None:
            ran.append("method")

    def handler(event: Event) -> None:
        ran.append(type(event).__name__)

    handlers = Handlers()
    dispatcher.on(FinishedJourney)(handler)
    dispatcher.on(ManuallyReviewed)(handler)
    dispatcher.on(FinishedJourney)(handler)
    dispatcher.on_any(handler)
    dispatcher.on_any(handler)
    dispatcher.on(FinishedJourney)(handlers.method)
    dispatcher.on(FinishedJourney)(handlers.method)

    deliver(dispatcher, make_event(FinishedJourney))
    assert ran == ["FinishedJourney", "FinishedJourney", "method"]  # typed, on_any, the method
    said = [r.getMessage() for r in caplog.records if "registered for these" in r.getMessage()]
    assert len(said) == 3
    assert said[0] == (
        "test_the_same_handler_registered_twice_for_the_same_events_runs_once.<locals>.handler"
        " is registered for these events already: it runs once per event"
    )


def test_an_event_nobody_handles_is_still_recorded_so_its_retry_is_a_duplicate(
    dispatcher: Dispatcher,
) -> None:
    """Every accepted event goes through the store, handlers or not."""
    event = make_event(ManuallyReviewed)

    assert outcome(deliver(dispatcher, event)) == "processed"
    assert outcome(deliver(dispatcher, event)) == "duplicate"


def test_coroutine_handlers_run_under_the_sync_handle(dispatcher: Dispatcher) -> None:
    """handle() runs an async handler to completion in a fresh event loop."""
    seen: list[str | None] = []

    @dispatcher.on(FinishedJourney)
    async def notify(event: FinishedJourney) -> None:
        await asyncio.sleep(0)
        seen.append(event.event_id)

    event = make_event(FinishedJourney)

    assert deliver(dispatcher, event).status == 200
    assert seen == [event.event_id]


def test_handle_async_awaits_coroutines_and_runs_plain_handlers_in_a_thread() -> None:
    """Async handlers run on the loop's thread, plain ones elsewhere, in registration order."""
    dispatcher = Dispatcher(verifier=VERIFIER)
    threads: list[tuple[str, int]] = []

    @dispatcher.on(FinishedJourney)
    async def on_loop(event: FinishedJourney) -> None:
        threads.append(("async", threading.get_ident()))

    @dispatcher.on(FinishedJourney)
    def blocking(event: FinishedJourney) -> None:
        threads.append(("sync", threading.get_ident()))

    async def main() -> tuple[WebhookResponse, int]:
        response = await dispatcher.handle_async(
            build_request(make_event(FinishedJourney), VERIFIER)
        )
        return response, threading.get_ident()

    response, loop_thread = asyncio.run(main())

    assert response.status == 200
    assert [kind for kind, _ in threads] == ["async", "sync"]
    assert threads[0][1] == loop_thread
    assert threads[1][1] != loop_thread


def test_handle_async_keeps_the_event_loop_free_while_handlers_and_the_store_block(
    tmp_path: Path,
) -> None:
    """A slow plain handler and SqlStore's calls run in threads: a ticker task keeps ticking."""
    store = SqlStore(f"sqlite:///{tmp_path / 'events.db'}")
    dispatcher = Dispatcher(verifier=VERIFIER, store=store)
    dispatcher.on_any(lambda event: time.sleep(0.3))

    async def main() -> tuple[int, WebhookResponse]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        response = await dispatcher.handle_async(
            build_request(make_event(FinishedJourney), VERIFIER)
        )
        stop.set()
        await task
        return ticks, response

    ticks, response = asyncio.run(main())
    store.close()

    assert response.status == 200
    assert ticks >= 10


def test_handle_async_runs_plain_handlers_and_store_calls_through_run_sync(
    tmp_path: Path,
) -> None:
    """Given run_sync, a delivery with a plain handler and a blocking store makes one trip to it.

    Claim, handler and complete all run in that one call (in the runner's thread), not in three.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runner")
    ran: list[str] = []

    def run_sync(func: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            ran.append(getattr(func, "__name__", "?"))
            return await asyncio.get_running_loop().run_in_executor(
                executor, lambda: func(*args, **kwargs)
            )

        return run

    store = SqlStore(f"sqlite:///{tmp_path / 'events.db'}")
    dispatcher = Dispatcher(verifier=VERIFIER, store=store, run_sync=run_sync)
    threads: list[str] = []

    @dispatcher.on(FinishedJourney)
    def plain(event: FinishedJourney) -> None:
        threads.append(threading.current_thread().name)

    response = asyncio.run(
        dispatcher.handle_async(build_request(make_event(FinishedJourney), VERIFIER))
    )
    store.close()
    executor.shutdown()

    assert response.status == 200
    assert ran == ["handle"]
    assert threads[0].startswith("runner")


def test_handle_async_takes_each_step_apart_when_a_handler_is_a_coroutine(
    tmp_path: Path,
) -> None:
    """With a coroutine handler, the store's calls go to threads, the handler runs on the loop."""
    hops: list[str] = []

    def run_sync(func: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            hops.append(getattr(func, "__name__", "?"))
            return await asyncio.to_thread(func, *args, **kwargs)

        return run

    store = SqlStore(f"sqlite:///{tmp_path / 'events.db'}")
    dispatcher = Dispatcher(verifier=VERIFIER, store=store, run_sync=run_sync)
    on_loop: list[bool] = []

    @dispatcher.on(FinishedJourney)
    async def coroutine(event: FinishedJourney) -> None:
        on_loop.append(threading.current_thread() is threading.main_thread())

    response = asyncio.run(
        dispatcher.handle_async(build_request(make_event(FinishedJourney), VERIFIER))
    )
    store.close()

    assert response.status == 200
    assert hops == ["claim", "complete"]
    assert on_loop == [True]


def test_the_sync_handle_refuses_an_async_only_store() -> None:
    """An async store cannot serve handle(): a TypeError says to use handle_async."""
    dispatcher = Dispatcher(verifier=VERIFIER, store=as_async_store(MemoryStore()))
    request = build_request(make_event(FinishedJourney), VERIFIER)

    with pytest.raises(TypeError, match="handle_async"):
        dispatcher.handle(request)
    assert asyncio.run(dispatcher.handle_async(request)).status == 200


def test_twenty_threads_delivering_one_event_run_its_handler_once() -> None:
    """Concurrent duplicates: one 200 processed, the rest 409 or 200 duplicate."""
    dispatcher = Dispatcher(verifier=VERIFIER)
    runs: list[str | None] = []

    @dispatcher.on_any
    def slow(event: Event) -> None:
        time.sleep(0.05)
        runs.append(event.event_id)

    body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
    start = threading.Barrier(20)

    def one(_: int) -> str:
        start.wait()
        return outcome(deliver(dispatcher, body))

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(one, range(20)))

    assert len(runs) == 1
    assert outcomes.count("processed") == 1
    assert set(outcomes) <= {"processed", "in_progress", "duplicate"}


# -- construction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"verifier": object()}, TypeError),
        ({"verifier": VERIFIER, "store": object()}, TypeError),
        ({"verifier": VERIFIER, "lease": timedelta(0)}, ValueError),
        ({"verifier": VERIFIER, "lease": 300}, TypeError),
        ({"verifier": VERIFIER, "lease": timedelta(days=2)}, ValueError),
        ({"verifier": VERIFIER, "max_body_bytes": 0}, ValueError),
        ({"verifier": VERIFIER, "max_body_bytes": 1.5}, TypeError),
        ({"verifier": VERIFIER, "statuses": {Outcome.PROCESSED: 99}}, ValueError),
        ({"verifier": VERIFIER, "statuses": {Outcome.PROCESSED: 101}}, ValueError),
        ({"verifier": VERIFIER, "statuses": {Outcome.DUPLICATE: 204}}, ValueError),
        ({"verifier": VERIFIER, "statuses": {Outcome.DUPLICATE: 304}}, ValueError),
        ({"verifier": VERIFIER, "statuses": {"processed": 200}}, TypeError),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    options: dict[str, Any], error: type[Exception]
) -> None:
    """A dispatcher that could not work is not built."""
    with pytest.raises(error):
        Dispatcher(**options)


def test_the_verifier_is_required() -> None:
    """No default verifier: an endpoint is never open by omission."""
    with pytest.raises(TypeError):
        Dispatcher()  # type: ignore[call-arg]


def test_repr_shows_configuration_without_secrets() -> None:
    """The repr names the verifier and store, never the token."""
    text = repr(Dispatcher(verifier=VERIFIER))

    assert CANARY not in text
    assert text.startswith("Dispatcher(verifier=BearerAuth(<1 token>), store=MemoryStore(")


# -- logging -------------------------------------------------------------------------------


def test_each_delivery_leaves_one_record_with_structured_fields_and_no_secrets(
    no_canary_in_logs: pytest.LogCaptureFixture,
) -> None:
    """One record per delivery (type, id, outcome, status, duration); never the token or body."""
    dispatcher = Dispatcher(verifier=VERIFIER)
    event = make_event(FinishedJourney, reference_no=CANARY)  # personal data stays out too

    deliver(dispatcher, event)
    deliver(dispatcher, event)
    dispatcher.handle(WebhookRequest(b"x", {"Authorization": f"Bearer {CANARY}x"}, "198.51.100.7"))

    records = no_canary_in_logs.records
    delivery_records = [r for r in records if hasattr(r, "outcome")]
    assert [(r.outcome, r.status, r.levelname) for r in delivery_records] == [  # type: ignore[attr-defined]
        ("processed", 200, "INFO"),
        ("duplicate", 200, "INFO"),
        ("unauthorized", 401, "WARNING"),
    ]
    first = delivery_records[0]
    assert first.event_type == "Finished Journey"  # type: ignore[attr-defined]
    assert first.event_id == event.event_id  # type: ignore[attr-defined]
    assert first.duration_ms >= 0  # type: ignore[attr-defined]
    assert delivery_records[2].client_ip == "198.51.100.7"  # type: ignore[attr-defined]
    assert event.model_dump_json(by_alias=True) not in "".join(r.getMessage() for r in records)


def test_a_verification_error_message_is_not_echoed_in_the_answer() -> None:
    """The 401 says nothing about which check failed."""

    class Picky:
        def verify(self, request: WebhookRequest) -> None:
            raise VerificationError("X-Tenant header was 'acme-old'")

    response = Dispatcher(verifier=Picky()).handle(WebhookRequest(b"{}"))

    assert response.body == b'{"outcome": "unauthorized"}'


def test_no_auth_dispatcher_accepts_unauthenticated_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NoAuth must be chosen explicitly, and then it works (with its warning)."""
    dispatcher = Dispatcher(verifier=NoAuth())
    seen: list[UnknownEvent | Event] = []
    dispatcher.on_any(seen.append)

    response = dispatcher.handle(build_request(make_event(FinishedJourney)))

    assert response.status == 200
    assert len(seen) == 1
    assert "unauthenticated" in caplog.text


def test_answers_are_immutable_so_one_can_be_shared_by_many_deliveries(
    dispatcher: Dispatcher,
) -> None:
    """Adapters and users cannot change an answer's headers for the deliveries after it."""
    response = deliver(dispatcher, make_event(FinishedJourney))

    with pytest.raises(TypeError):
        response.headers["X-Changed"] = "yes"  # type: ignore[index]
    assert "X-Changed" not in deliver(dispatcher, make_event(FinishedJourney)).headers


# -- interruptions and sender-chosen text --------------------------------------------------


def hanging_the_first_time(dispatcher: Dispatcher) -> tuple[asyncio.Event, list[str]]:
    """A coroutine handler that hangs on its first call (``started`` is then set); ``calls``."""
    started = asyncio.Event()
    calls: list[str] = []

    @dispatcher.on(FinishedJourney)
    async def slow(event: FinishedJourney) -> None:
        calls.append("called")
        if len(calls) == 1:
            started.set()
            await asyncio.sleep(60)

    return started, calls


def test_a_cancelled_async_handler_releases_the_claim_and_the_retry_runs_it() -> None:
    """A delivery cancelled mid-handler (client gone, server stopping) releases its claim.

    The cancellation propagates, and IDWise's retry is processed at once instead of waiting out
    the lease.
    """
    dispatcher = Dispatcher(verifier=VERIFIER)
    started, calls = hanging_the_first_time(dispatcher)

    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> WebhookResponse:
        first = asyncio.create_task(dispatcher.handle_async(request))
        await started.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await dispatcher.handle_async(request)

    retry = asyncio.run(scenario())

    assert (retry.status, outcome(retry)) == (200, "processed")
    assert calls == ["called", "called"]


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_sync_handler_releases_the_claim_and_re_raises(
    interruption: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C or SystemExit inside a handler propagates, and the claim does not stay held."""
    dispatcher = Dispatcher(verifier=VERIFIER)
    calls: list[str] = []

    @dispatcher.on(FinishedJourney)
    def handler(event: FinishedJourney) -> None:
        calls.append("called")
        if len(calls) == 1:
            raise interruption

    event = make_event(FinishedJourney)
    with pytest.raises(interruption):
        deliver(dispatcher, event)
    retry = deliver(dispatcher, event)

    assert (retry.status, outcome(retry)) == (200, "processed")
    assert any(interruption.__name__ in r.getMessage() for r in caplog.records)


class _SlowBlockingStore(MemoryStore):
    """A MemoryStore that says it blocks, as SqlStore does, and whose claim takes a while."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.claiming = threading.Event()

    def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
        self.claiming.set()
        time.sleep(0.2)  # a database round trip
        return super().claim(key, lease=lease, fingerprint=fingerprint)


def test_a_delivery_cancelled_while_a_thread_claims_it_gives_the_claim_back() -> None:
    """A claim taken in a worker thread, which cannot be stopped, is released once it returns.

    IDWise's retry then does not wait out the lease (answered 409 meanwhile).
    """
    store = _SlowBlockingStore()
    dispatcher = Dispatcher(verifier=VERIFIER, store=store)
    calls: list[str] = []

    @dispatcher.on(FinishedJourney)
    async def handler(event: FinishedJourney) -> None:
        calls.append("called")

    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> WebhookResponse:
        await cancel_once(store.claiming, dispatcher.handle_async(request))
        await asyncio.sleep(0.4)  # the thread's claim returned, and was given back
        return await dispatcher.handle_async(request)

    retry = asyncio.run(scenario())

    assert (retry.status, outcome(retry)) == (200, "processed")
    assert calls == ["called"]


class _BlockingStore(MemoryStore):
    """A MemoryStore that says it blocks, as SqlStore does: its calls go to worker threads."""

    blocking = True


def test_a_delivery_cancelled_twice_still_releases_its_claim_in_a_blocking_store() -> None:
    """A server's shutdown cancels, then ``asyncio.run`` cancels what is left: two cancellations.

    The second one used to land while the release waited for a worker thread, and the release
    was dropped: the claim stayed held for the whole lease, and the retry got 409.
    """
    dispatcher = Dispatcher(verifier=VERIFIER, store=_BlockingStore())
    started, calls = hanging_the_first_time(dispatcher)

    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> WebhookResponse:
        first = asyncio.create_task(dispatcher.handle_async(request))
        await started.wait()
        first.cancel()
        await asyncio.sleep(0)  # the handler is cancelled; the flow starts its release
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        for _ in range(100):  # the release, in a worker thread, lands
            await asyncio.sleep(0.01)
        return await dispatcher.handle_async(request)

    retry = asyncio.run(scenario())

    assert (retry.status, outcome(retry)) == (200, "processed")
    assert calls == ["called", "called"]


def shut_down_while(
    dispatcher: Dispatcher, request: WebhookRequest, running: asyncio.Event
) -> None:
    """A server's shutdown: the delivery is cancelled once ``running``, then its loop ends.

    uvicorn cancels the requests still running and returns a loop turn later; ``asyncio.run``
    then cancels every task left, the claim's release or completion among them.
    """

    async def serving() -> None:
        delivery = asyncio.create_task(dispatcher.handle_async(request))
        await running.wait()
        delivery.cancel()
        await asyncio.sleep(0)

    asyncio.run(serving())


def test_a_delivery_cancelled_as_its_event_loop_ends_still_releases_its_claim() -> None:
    """The release is made in the loop's thread when the loop's end cancels it."""
    dispatcher = Dispatcher(verifier=VERIFIER, store=_BlockingStore())
    started, calls = hanging_the_first_time(dispatcher)

    request = build_request(make_event(FinishedJourney), VERIFIER)
    shut_down_while(dispatcher, request, started)

    retry = dispatcher.handle(request)  # at once, as the restarted server would answer

    assert (retry.status, outcome(retry)) == (200, "processed")
    assert calls == ["called", "called"]


class _StalledRelease(_BlockingStore):
    """A database that stalls on release: it answers once ``answer`` is set (or in 30 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()
        self.released = threading.Event()

    def release(self, key: str, token: str) -> bool:
        self.answer.wait(30)
        released = super().release(key, token)
        self.released.set()
        return released


def test_an_interrupted_delivery_blocks_the_loop_only_a_while_for_a_stalled_release() -> None:
    """The release is waited for with the loop blocked, but not for as long as it stalls."""
    store = _StalledRelease()
    dispatcher = Dispatcher(verifier=VERIFIER, store=store)
    started, calls = hanging_the_first_time(dispatcher)
    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> bool:
        first = asyncio.create_task(dispatcher.handle_async(request))
        await started.wait()
        first.cancel()
        await asyncio.sleep(2)  # returns once the loop is free again
        stalled = not store.released.is_set()
        store.answer.set()
        with pytest.raises(asyncio.CancelledError):
            await first  # once the release landed
        return stalled

    assert asyncio.run(scenario())
    retry = dispatcher.handle(request)
    assert (retry.status, outcome(retry)) == (200, "processed")
    assert calls == ["called", "called"]


class _SlowToComplete(_BlockingStore):
    def complete(self, key: str, token: str) -> bool:
        time.sleep(0.2)
        return super().complete(key, token)


def test_a_delivery_completing_as_its_event_loop_ends_is_still_completed() -> None:
    """Its handlers ran: when the loop's end cancels the completion, the loop's thread makes it."""
    dispatcher = Dispatcher(verifier=VERIFIER, store=_SlowToComplete())
    done = asyncio.Event()

    @dispatcher.on(FinishedJourney)
    async def handler(event: FinishedJourney) -> None:
        done.set()

    request = build_request(make_event(FinishedJourney), VERIFIER)
    shut_down_while(dispatcher, request, done)

    retry = dispatcher.handle(request)

    assert (retry.status, outcome(retry)) == (200, "duplicate")


def test_a_delivery_cancelled_while_completing_is_still_completed() -> None:
    """Its handlers ran: a cancellation while the store completes it does not drop the completion.

    Otherwise the retry gets 409 until the lease runs out, and then runs the handlers again.
    """
    dispatcher = Dispatcher(verifier=VERIFIER, store=_BlockingStore())
    done = asyncio.Event()
    calls: list[str] = []

    @dispatcher.on(FinishedJourney)
    async def handler(event: FinishedJourney) -> None:
        calls.append("called")
        done.set()

    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> WebhookResponse:
        first = asyncio.create_task(dispatcher.handle_async(request))
        await done.wait()  # the handler returned; the completion waits for a worker thread
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        for _ in range(100):
            await asyncio.sleep(0.01)
        return await dispatcher.handle_async(request)

    retry = asyncio.run(scenario())

    assert (retry.status, outcome(retry)) == (200, "duplicate")
    assert calls == ["called"]


def cancelled_and_retried(
    dispatcher: Dispatcher, started: threading.Event, finish: threading.Event
) -> tuple[WebhookResponse, WebhookResponse]:
    """A delivery cancelled once its handler ``started`` in a thread, then two of its retries.

    The answers to the retry sent while the handler still runs, and to the first retry that
    gets a 200 once the handler is let ``finish``.
    """
    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> tuple[WebhookResponse, WebhookResponse]:
        await cancel_once(started, dispatcher.handle_async(request))
        during = await dispatcher.handle_async(request)
        finish.set()
        for _ in range(200):  # the thread ends, then the claim is completed or released
            later = await dispatcher.handle_async(request)
            if later.status == 200:
                break
            await asyncio.sleep(0.01)
        return during, later

    return asyncio.run(scenario())


def test_cancelled_while_a_thread_runs_the_whole_delivery_its_handlers_finish_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Plain handlers, a sync store: the worker thread running the delivery goes on.

    The claim stays held while the handler runs (a retry gets 409), then is completed; the
    cancellation is logged.
    """
    store = MemoryStore()
    dispatcher = Dispatcher(verifier=VERIFIER, store=store)
    started, finish = threading.Event(), threading.Event()

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        started.set()
        finish.wait(10)

    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        during, after = cancelled_and_retried(dispatcher, started, finish)

    assert (during.status, outcome(during)) == (409, "in_progress")
    assert (after.status, outcome(after)) == (200, "duplicate")
    assert any(
        "cancelled while it waited for a worker thread" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize("blocking", [False, True], ids=["memory", "blocking-store"])
def test_cancelled_while_a_plain_handler_runs_beside_async_ones_the_claim_waits_for_it(
    blocking: bool,
) -> None:
    """An async handler and a plain one: each call its own step, the plain one in a thread.

    Cancelled while the plain handler runs, the delivery is not released until that thread
    ends: a retry meanwhile gets 409 rather than running the handler a second time beside it.
    Then the claim is released (the cancelled delivery did not finish), and a retry runs it.
    """
    dispatcher = Dispatcher(verifier=VERIFIER, store=_BlockingStore() if blocking else None)
    started, finish = threading.Event(), threading.Event()
    runs: list[str] = []
    running_at_once: list[int] = []

    @dispatcher.on(FinishedJourney)
    async def first(event: FinishedJourney) -> None:
        """Any coroutine handler: the delivery is taken step by step, not in one thread trip."""

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        runs.append("start")
        running_at_once.append(runs.count("start") - runs.count("end"))
        started.set()
        finish.wait(10)
        runs.append("end")

    during, later = cancelled_and_retried(dispatcher, started, finish)

    assert (during.status, outcome(during)) == (409, "in_progress")
    assert (later.status, outcome(later)) == (200, "processed")
    assert runs == ["start", "end", "start", "end"]
    assert running_at_once == [1, 1]


def test_a_mismatch_hook_interrupted_after_a_takeover_releases_the_claim() -> None:
    """A lapsed claim taken over by another body calls the mismatch hooks, then the handlers.

    Ctrl-C in such a hook propagates; the claim taken must not stay held for the whole lease.
    """
    clock = FakeClock()
    dispatcher = Dispatcher(verifier=VERIFIER, store=MemoryStore(clock=clock))
    ran: list[str] = []
    dispatcher.on(FinishedJourney)(lambda event: ran.append("handler"))
    interrupted: list[str] = []

    @dispatcher.on_fingerprint_mismatch
    def stop_once(event: Event, request: WebhookRequest) -> None:
        if not interrupted:
            interrupted.append("once")
            raise KeyboardInterrupt

    event = make_event(FinishedJourney)
    altered = make_event(FinishedJourney, event_id=event.event_id, system_decision="Refer")
    held = dispatcher.store.claim(
        event.idempotency_key, lease=dispatcher.lease, fingerprint="another body"
    )
    assert isinstance(held, Claimed)
    clock.advance(dispatcher.lease * 2)  # its worker died: the lease lapsed

    with pytest.raises(KeyboardInterrupt):
        deliver(dispatcher, altered)
    retry = deliver(dispatcher, altered)

    assert (retry.status, outcome(retry)) == (200, "processed")
    assert ran == ["handler"]


def test_a_plain_handler_returning_a_coroutine_has_it_awaited_on_the_servers_loop() -> None:
    """An async handler under a plain decorator: its coroutine runs on the caller's loop.

    The wrapper is a plain function, so a worker thread runs the whole delivery; the coroutine
    it returns still runs where its loop-bound resources (a client session, a pool) live.
    """
    import functools

    def logged(func: Any) -> Any:  # a plain decorator: the wrapper is not a coroutine function
        @functools.wraps(func)
        def wrapper(*args: Any) -> Any:
            return func(*args)

        return wrapper

    dispatcher = Dispatcher(verifier=VERIFIER)
    seen: dict[str, Any] = {}

    @dispatcher.on(FinishedJourney)
    @logged
    async def handler(event: FinishedJourney) -> None:
        seen["loop"] = asyncio.get_running_loop()
        await seen["ready"]  # a future of the server's loop

    async def scenario() -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        seen["ready"] = loop.create_future()
        loop.call_later(0.05, seen["ready"].set_result, None)
        response = await dispatcher.handle_async(
            build_request(make_event(FinishedJourney), VERIFIER)
        )
        return response.status, seen.get("loop") is loop

    assert asyncio.run(scenario()) == (200, True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("eventId", "abc\n2026-01-01 INFO IDWise webhook forged: processed, answered 200"),
        ("eventId", "abc\r\nforged"),
        ("eventId", "\x1b[2J\x1b[31mred"),
        ("eventId", "x" * 200_000),
        ("event", "Forged\nEvent"),
    ],
)
def test_sender_chosen_names_and_ids_cannot_forge_or_flood_log_lines(
    field: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The event name and eventId are escaped, and cut short: 120 characters in the message.

    The structured fields keep up to 255 characters (as the inbox's labels), escaped.
    """
    caplog.set_level(logging.INFO, logger="idwise_events")
    payload = json.loads(make_event(FinishedJourney).model_dump_json(by_alias=True))
    if field == "event":
        payload["event"] = value
    else:
        payload["body"][field] = value
    response = deliver(Dispatcher(verifier=VERIFIER), json.dumps(payload).encode())

    assert response.status == 200
    [record] = [r for r in caplog.records if r.name == "idwise_events" and hasattr(r, "outcome")]
    message = record.getMessage()
    for control in ("\n", "\r", "\x1b"):
        assert control not in message
    assert len(message) < 1_000
    structured: str = getattr(record, "event_id" if field == "eventId" else "event_type")
    assert "\n" not in structured
    assert "\x1b" not in structured
    assert len(structured) == min(len(escaped(value)), 255)
    assert structured.startswith(escaped(value)[:200])


def test_a_client_ip_from_a_proxy_header_cannot_forge_or_flood_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An ASGI server may take the client IP from ``X-Forwarded-For``: the sender's text.

    It is escaped and cut short, in the message and in the record's ``client_ip``.
    """
    caplog.set_level(logging.INFO, logger="idwise_events")
    forged = "203.0.113.9\x85IDWise webhook: processed\x9b31m" + "9" * 12_000
    response = Dispatcher(verifier=VERIFIER).handle(WebhookRequest(b"{}", {}, forged))

    assert response.status == 401
    [record] = [r for r in caplog.records if hasattr(r, "outcome")]
    for text in (record.getMessage(), getattr(record, "client_ip")):  # noqa: B009
        assert len(text.splitlines()) == 1
        assert "\x85" not in text
        assert "\x9b" not in text
        assert len(text) < 1_000


def test_an_event_id_sent_again_with_another_body_is_logged_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fingerprint mismatch's warning names the key, escaped and cut short (no flood)."""
    dispatcher = Dispatcher(verifier=VERIFIER)
    event_id = "e\n" + "x" * 200_000
    first = make_event(FinishedJourney, event_id=event_id)
    deliver(dispatcher, first)
    changed = json.loads(first.model_dump_json(by_alias=True))
    changed["body"]["extra"] = "another body"
    caplog.set_level(logging.WARNING, logger="idwise_events")

    deliver(dispatcher, json.dumps(changed).encode())

    [warning] = [r for r in caplog.records if "different body" in r.getMessage()]
    assert len(warning.getMessage()) < 1_000
    assert "\n" not in warning.getMessage()


# -- lease renewal -------------------------------------------------------------------------

SHORT_LEASE = timedelta(seconds=1)


def test_a_handler_outliving_its_lease_keeps_the_event_from_a_retry() -> None:
    """A slow handler's lease is renewed: a retry after the original lease gets 409.

    The handler does not run a second time meanwhile, and once done, retries are duplicates.
    """
    dispatcher = Dispatcher(verifier=VERIFIER, lease=SHORT_LEASE)
    retry_answered = threading.Event()
    calls: list[str] = []

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        calls.append("called")
        retry_answered.wait(timeout=30)

    event = make_event(FinishedJourney)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(deliver, dispatcher, event)
        time.sleep(2.5 * SHORT_LEASE.total_seconds())  # well past the original lease
        retry = deliver(dispatcher, event)
        retry_answered.set()
        assert (first.result(timeout=30).status, outcome(retry)) == (200, "in_progress")
    later = deliver(dispatcher, event)

    assert calls == ["called"]
    assert outcome(later) == "duplicate"


def test_an_async_only_store_is_renewed_from_the_event_loop() -> None:
    """With an async store, the event loop's timers renew the lease of a slow async handler."""
    dispatcher = Dispatcher(
        verifier=VERIFIER, store=as_async_store(MemoryStore()), lease=SHORT_LEASE
    )
    calls: list[str] = []

    @dispatcher.on(FinishedJourney)
    async def slow(event: FinishedJourney) -> None:
        calls.append("called")
        await asyncio.sleep(2.5 * SHORT_LEASE.total_seconds())

    request = build_request(make_event(FinishedJourney), VERIFIER)

    async def scenario() -> tuple[WebhookResponse, WebhookResponse]:
        first = asyncio.create_task(dispatcher.handle_async(request))
        await asyncio.sleep(2 * SHORT_LEASE.total_seconds())
        retry = await dispatcher.handle_async(request)
        return await first, retry

    first, retry = asyncio.run(scenario())

    assert (outcome(first), outcome(retry)) == ("processed", "in_progress")
    assert calls == ["called"]


class FailingRenewals(MemoryStore):
    """A store whose renewals fail, as when its database is unreachable."""

    def renew(self, key: str, token: str, *, lease: timedelta) -> bool:
        raise StoreError("the database is unreachable")


def test_a_failed_renewal_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A renewal that fails is logged as a warning naming the risk of a second run."""
    dispatcher = Dispatcher(verifier=VERIFIER, store=FailingRenewals(), lease=SHORT_LEASE)
    dispatcher.on(FinishedJourney)(lambda event: time.sleep(SHORT_LEASE.total_seconds()))

    response = deliver(dispatcher, make_event(FinishedJourney))

    assert response.status == 200
    assert any(
        "could not be renewed" in r.getMessage() and "unreachable" in r.getMessage()
        for r in caplog.records
    )


def test_a_store_without_renew_still_works_and_says_it_cannot_renew(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store of one's own written before `renew` existed is used as before, with a warning."""

    class OldStore:
        blocking = False

        def __init__(self) -> None:
            self.inner = MemoryStore()

        def claim(self, key: str, *, lease: timedelta, fingerprint: str) -> ClaimResult:
            return self.inner.claim(key, lease=lease, fingerprint=fingerprint)

        def complete(self, key: str, token: str) -> bool:
            return self.inner.complete(key, token)

        def release(self, key: str, token: str) -> bool:
            return self.inner.release(key, token)

        def purge(self) -> int:
            return self.inner.purge()

    # Typed as the protocol, as a user's checker saw such a store before `renew` existed.
    dispatcher = Dispatcher(verifier=VERIFIER, store=cast(IdempotencyStore, OldStore()))
    dispatcher.on(FinishedJourney)(lambda event: None)

    assert outcome(deliver(dispatcher, make_event(FinishedJourney))) == "processed"
    assert any("has no renew()" in r.getMessage() for r in caplog.records)


def test_each_answer_carries_its_outcome_as_its_body_names_it() -> None:
    """``response.outcome``: what a test asserts, without decoding the body."""
    dispatcher = Dispatcher(verifier=BearerAuth("token"))
    dispatcher.on(FinishedJourney)(lambda event: None)
    event = make_event(FinishedJourney)
    good = build_request(event, dispatcher.verifier)
    answers = {
        Outcome.PROCESSED: dispatcher.handle(good),
        Outcome.DUPLICATE: dispatcher.handle(good),
        Outcome.UNAUTHORIZED: dispatcher.handle(WebhookRequest(good.body)),
        Outcome.INVALID: dispatcher.handle(WebhookRequest(b"{", {"Authorization": "Bearer token"})),
        Outcome.METHOD_NOT_ALLOWED: dispatcher.early_response("GET"),
    }

    for outcome, answer in answers.items():
        assert answer is not None
        assert answer.outcome is outcome
        assert json.loads(answer.body)["outcome"] == outcome.value
    invalid = answers[Outcome.INVALID]
    assert invalid is not None
    assert "detail" in json.loads(invalid.body)  # a response built per delivery
