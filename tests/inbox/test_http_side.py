"""The HTTP side of the inbox: a delivery is stored, acknowledged, then processed by a worker."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from idwise_events import (
    BearerAuth,
    DeliveryState,
    Dispatcher,
    FinishedJourney,
    MemoryInbox,
    ProcessOutcome,
    WebhookResponse,
    process,
)
from idwise_events._inbox import replaying
from idwise_events.adapters.wsgi import app
from idwise_events.inbox.sql import SqlInbox
from idwise_events.inbox.worker import EmbeddedWorker
from idwise_events.testing import RecordingHandler, auth_headers, build_request, make_event

from ..conftest import CANARY

VERIFIER = BearerAuth(CANARY)


def outcome(response: WebhookResponse) -> str:
    return str(json.loads(response.body)["outcome"])


def test_a_delivery_is_acknowledged_once_stored_and_processed_by_a_worker() -> None:
    """200 "accepted" before any handler runs; the worker then runs them once."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    recorded = RecordingHandler()
    dispatcher.on(FinishedJourney)(recorded)
    event = make_event(FinishedJourney)

    response = dispatcher.handle(build_request(event, VERIFIER))
    assert (response.status, outcome(response)) == (200, "accepted")
    assert recorded.events == []
    [delivery] = inbox.deliveries()
    assert (delivery.state, delivery.event_id) == (DeliveryState.PENDING, event.event_id)

    assert process(dispatcher, delivery.id) is ProcessOutcome.DONE
    assert recorded.event_ids == [event.event_id]


def test_a_duplicate_of_an_accepted_event_is_acknowledged_without_a_second_row() -> None:
    """IDWise's retry of an accepted event gets 200 "duplicate"; the inbox keeps one row."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    event = make_event(FinishedJourney)

    answers = [outcome(dispatcher.handle(build_request(event, VERIFIER))) for _ in range(3)]

    assert answers == ["accepted", "duplicate", "duplicate"]
    assert len(inbox.deliveries()) == 1


def test_an_event_id_sent_again_with_another_body_is_logged_and_given_to_the_hooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The inbox keeps the first body; the other one is reported, never silently dropped."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    mismatched: list[str | None] = []
    dispatcher.on_fingerprint_mismatch(lambda event, request: mismatched.append(event.event_id))
    first = make_event(FinishedJourney, reference_no="first")
    other = first.model_copy(update={"body": first.body.model_copy(update={"reference_no": "x"})})

    answers = [outcome(dispatcher.handle(build_request(e, VERIFIER))) for e in (first, other)]

    assert answers == ["accepted", "duplicate"]
    assert mismatched == [first.event_id]
    assert "was delivered with a different body" in caplog.text
    assert len(inbox.deliveries()) == 1


def test_unknown_events_are_stored_too_and_reach_the_unknown_handlers() -> None:
    """An event name this version does not know is accepted and processed by `on_unknown`."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    seen: list[str] = []
    dispatcher.on_unknown(lambda event: seen.append(event.event))
    body = json.dumps({"event": "Brand New Event", "body": {"eventId": "e-1"}}).encode()

    response = dispatcher.handle(build_request(body, VERIFIER))
    [delivery] = inbox.deliveries()
    process(dispatcher, delivery.id)

    assert outcome(response) == "accepted"
    assert seen == ["Brand New Event"]


def test_an_inbox_that_cannot_be_written_answers_503_and_acknowledges_nothing() -> None:
    """A database that refuses connections: 503 with Retry-After, no handler, no 200."""
    inbox = SqlInbox(
        "postgresql+psycopg://idwise@127.0.0.1:9/none", network_timeout=timedelta(seconds=2)
    )
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    recorded = RecordingHandler()
    dispatcher.on(FinishedJourney)(recorded)

    response = dispatcher.handle(build_request(make_event(FinishedJourney), VERIFIER))
    inbox.close()

    assert (response.status, outcome(response)) == (503, "store_unavailable")
    assert "Retry-After" in response.headers
    assert recorded.events == []


def test_a_failing_enqueue_hook_is_logged_and_the_delivery_still_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The delivery is stored before the hook runs: a broker that is down loses nothing."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)

    @dispatcher.on_accepted
    def enqueue(delivery_id: int) -> None:
        raise ConnectionError("the broker is down")

    response = dispatcher.handle(build_request(make_event(FinishedJourney), VERIFIER))

    assert outcome(response) == "accepted"
    assert inbox.stats()[DeliveryState.PENDING] == 1
    assert any("enqueue" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("async_hook", [False, True])
def test_handle_async_stores_and_calls_the_accepted_hooks(async_hook: bool) -> None:
    """From async code, the inbox write and the hooks run too (plain or coroutine hooks)."""
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    enqueued: list[int] = []
    if async_hook:

        async def hook(delivery_id: int) -> None:
            enqueued.append(delivery_id)

        dispatcher.on_accepted(hook)
    else:
        dispatcher.on_accepted(enqueued.append)

    response = asyncio.run(
        dispatcher.handle_async(build_request(make_event(FinishedJourney), VERIFIER))
    )

    assert outcome(response) == "accepted"
    assert enqueued == [delivery.id for delivery in inbox.deliveries()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The test server's access log would only clutter the test output."""


@contextmanager
def serving(dispatcher: Dispatcher) -> Iterator[str]:
    """The dispatcher's WSGI app on a real HTTP server on 127.0.0.1, in a thread."""
    server = make_server("127.0.0.1", 0, app(dispatcher), handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_over_http_the_answer_comes_before_a_slow_handler_finishes(tmp_path: Path) -> None:
    """With the SQLite inbox and the embedded worker, IDWise is answered while the handler runs.

    The handler, slow on purpose, then finishes, once.
    """
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    release = threading.Event()
    finished = threading.Event()
    calls: list[str | None] = []

    @dispatcher.on(FinishedJourney)
    def slow(event: FinishedJourney) -> None:
        calls.append(event.event_id)
        release.wait(timeout=30)
        finished.set()

    body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()
    headers = {"Content-Type": "application/json", **auth_headers(VERIFIER)}
    with EmbeddedWorker(dispatcher), serving(dispatcher) as url:
        posted = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 -- loopback
        with urllib.request.urlopen(posted, timeout=30) as answer:  # noqa: S310 -- loopback
            status, body = answer.status, json.loads(answer.read())
        answered_before_the_handler_finished = not finished.is_set()
        release.set()
        assert finished.wait(timeout=30)
    inbox.close()

    assert (status, body["outcome"]) == (200, "accepted")
    assert answered_before_the_handler_finished
    assert len(calls) == 1


def test_a_replay_calls_the_accepted_hooks_as_a_new_delivery_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`Dispatcher.replay`: pending again and handed to the hooks; a failing hook is logged.

    A delivery still pending is not replayed, and no hook hears of it.
    """
    inbox = MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    enqueued: list[int] = []
    dispatcher.on_accepted(enqueued.append)
    replays_seen: list[bool] = []  # what a hook sees: a replay, or a delivery being answered
    dispatcher.on_accepted(lambda delivery_id: replays_seen.append(replaying.get()))
    dispatcher.handle(build_request(make_event(FinishedJourney), VERIFIER))
    [delivery] = inbox.deliveries()
    assert not dispatcher.replay(delivery.id)  # pending
    assert process(dispatcher, delivery.id) is ProcessOutcome.DONE

    @dispatcher.on_accepted
    def broker_down(delivery_id: int) -> None:
        raise ConnectionError("broker down")

    assert dispatcher.replay(delivery.id)

    assert enqueued == [delivery.id, delivery.id]
    assert replays_seen == [False, True]
    assert not replaying.get()
    replayed = inbox.get(delivery.id)
    assert replayed is not None
    assert (replayed.state, replayed.replays) == (DeliveryState.PENDING, 1)
    [logged] = [r for r in caplog.records if "broker_down" in r.getMessage()]
    assert f"replayed delivery {delivery.id}" in logged.getMessage()
    assert logged.exc_info is not None
    assert not dispatcher.replay(10_000)  # unknown


@pytest.mark.parametrize("blocking", [False, True], ids=["MemoryInbox", "SqlInbox"])
@pytest.mark.parametrize("async_hook", [False, True], ids=["plain hook", "async hook"])
def test_replay_async_replays_off_the_loop_and_awaits_coroutine_hooks(
    blocking: bool, async_hook: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`replay_async`: a blocking inbox in a thread, never on the loop; every hook called.

    A coroutine hook is awaited on the caller's loop; a hook that raises is logged by name.
    """
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}") if blocking else MemoryInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    dispatcher.handle(build_request(make_event(FinishedJourney), VERIFIER))
    [delivery] = inbox.deliveries()
    assert process(dispatcher, delivery.id) is ProcessOutcome.DONE
    loop_thread: list[int] = []
    called: list[tuple[int, int]] = []  # (delivery id, the thread the hook ran in)
    if async_hook:

        async def enqueue(delivery_id: int) -> None:
            called.append((delivery_id, threading.get_ident()))

        dispatcher.on_accepted(enqueue)
    else:
        dispatcher.on_accepted(lambda delivery_id: called.append((delivery_id, 0)))

    @dispatcher.on_accepted
    def broker_down(delivery_id: int) -> None:
        raise ConnectionError("broker down")

    replaying: list[int] = []  # the threads inbox.replay ran in
    inbox_replay = inbox.replay

    def replay(delivery_id: int) -> bool:
        replaying.append(threading.get_ident())
        return inbox_replay(delivery_id)

    inbox.replay = replay  # type: ignore[method-assign]

    async def replay_twice() -> tuple[bool, bool]:
        loop_thread.append(threading.get_ident())
        return await dispatcher.replay_async(delivery.id), await dispatcher.replay_async(9_999)

    assert asyncio.run(replay_twice()) == (True, False)

    assert (loop_thread[0] in replaying) is not blocking  # a blocking inbox: off the loop
    expected_thread = loop_thread[0] if async_hook else 0
    assert called == [(delivery.id, expected_thread)]
    replayed = inbox.get(delivery.id)
    assert replayed is not None
    assert (replayed.state, replayed.replays) == (DeliveryState.PENDING, 1)
    [logged] = [r for r in caplog.records if "broker_down" in r.getMessage()]
    assert "ConnectionError: broker down" in logged.getMessage()
    if isinstance(inbox, SqlInbox):
        inbox.close()


def test_replay_needs_an_inbox() -> None:
    """Without an inbox there is no delivery to replay: a TypeError says what is missing."""
    with pytest.raises(TypeError, match="replay: this dispatcher has no inbox"):
        Dispatcher(verifier=VERIFIER).replay(1)
    with pytest.raises(TypeError, match="replay_async: this dispatcher has no inbox"):
        asyncio.run(Dispatcher(verifier=VERIFIER).replay_async(1))


class CommitWaitingInbox(MemoryInbox):
    """An inbox whose writes commit with the caller's transaction, as `DjangoInbox` does."""

    def __init__(self) -> None:
        super().__init__()
        self.at_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.at_commit.append(callback)

    def commit(self) -> None:
        callbacks, self.at_commit = self.at_commit, []
        for callback in callbacks:
            callback()


@pytest.mark.parametrize("method", ["replay", "replay_async"])
def test_with_an_inbox_in_the_callers_transaction_the_hooks_wait_for_its_commit(
    method: str,
) -> None:
    """No worker is sent a replayed delivery before the replay is committed (from async too)."""
    inbox = CommitWaitingInbox()
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    dispatcher.handle(build_request(make_event(FinishedJourney), VERIFIER))
    [delivery] = inbox.deliveries()
    assert process(dispatcher, delivery.id) is ProcessOutcome.DONE
    enqueued: list[int] = []

    @dispatcher.on_accepted
    async def enqueue(delivery_id: int) -> None:
        enqueued.append(delivery_id)

    if method == "replay":
        assert dispatcher.replay(delivery.id)
    else:
        assert asyncio.run(dispatcher.replay_async(delivery.id))

    assert enqueued == []
    inbox.commit()
    assert enqueued == [delivery.id]
