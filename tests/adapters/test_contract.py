"""The adapter contract: every adapter, through its framework's test client, gives the same answers.

Parametrised over every adapter by the `mount` fixture (tests/adapters/conftest.py), as the store
contract suite is over every backend.
"""

from __future__ import annotations

import json
import logging

import pytest

from idwise_events import BearerAuth, Dispatcher, Event, FinishedJourney
from idwise_events.testing import auth_headers, make_event

from .conftest import Mount, Reply, Send

VERIFIER = BearerAuth("contract-token")
HEADERS = {"Content-Type": "application/json", **auth_headers(VERIFIER)}


class Recorder:
    """A handler that records the events it saw, and can be told to fail."""

    def __init__(self) -> None:
        self.seen: list[Event] = []
        self.fail_next = False

    def __call__(self, event: Event) -> None:
        self.seen.append(event)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("handler failed")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def send(mount: Mount, recorder: Recorder) -> Send:
    dispatcher = Dispatcher(verifier=VERIFIER, max_body_bytes=4096)
    dispatcher.on_any(recorder)
    return mount(dispatcher)


def body_of(event: Event) -> bytes:
    return event.model_dump_json(by_alias=True).encode()


def outcome(reply: Reply) -> str:
    content: dict[str, str] = json.loads(reply.body)
    return content["outcome"]


def test_an_authenticated_event_is_processed_once(send: Send, recorder: Recorder) -> None:
    """200, and the handler saw the event, typed."""
    event = make_event(FinishedJourney)

    reply = send("POST", body_of(event), HEADERS)

    assert (reply.status, outcome(reply)) == (200, "processed")
    assert reply.headers["content-type"] == "application/json"
    assert recorder.seen == [event]
    assert isinstance(recorder.seen[0], FinishedJourney)


def test_the_same_delivery_again_is_acknowledged_without_a_second_run(
    send: Send, recorder: Recorder
) -> None:
    """200 twice; the handler ran once."""
    body = body_of(make_event(FinishedJourney))

    first, again = send("POST", body, HEADERS), send("POST", body, HEADERS)

    assert (first.status, again.status) == (200, 200)
    assert outcome(again) == "duplicate"
    assert len(recorder.seen) == 1


def test_wrong_credentials_get_401(send: Send, recorder: Recorder) -> None:
    """401, and nothing ran."""
    headers = {**HEADERS, "Authorization": "Bearer guessed"}

    reply = send("POST", body_of(make_event(FinishedJourney)), headers)

    assert (reply.status, outcome(reply)) == (401, "unauthorized")
    assert recorder.seen == []


def test_a_malformed_body_gets_400(send: Send) -> None:
    """400 with the reason."""
    reply = send("POST", b'{"event": "Finished Journey"', HEADERS)

    assert reply.status == 400
    assert json.loads(reply.body)["detail"].startswith("payload is not valid JSON")


def test_an_unknown_event_gets_200(send: Send, recorder: Recorder) -> None:
    """200, so that IDWise stops retrying an event type this version does not know."""
    reply = send("POST", b'{"event": "Journey Archived", "body": {"eventId": "u-1"}}', HEADERS)

    assert (reply.status, outcome(reply)) == (200, "processed")
    assert [event.event for event in recorder.seen] == ["Journey Archived"]


def test_a_handler_error_gets_500_and_the_retry_runs_it_again(
    send: Send, recorder: Recorder
) -> None:
    """500, then 200 for the retry, which ran the handler a second time."""
    body = body_of(make_event(FinishedJourney))
    recorder.fail_next = True

    failed, retried = send("POST", body, HEADERS), send("POST", body, HEADERS)

    assert (failed.status, outcome(failed)) == (500, "handler_failed")
    assert (retried.status, outcome(retried)) == (200, "processed")
    assert len(recorder.seen) == 2


def test_an_oversized_body_gets_413(send: Send, recorder: Recorder) -> None:
    """413 for a body over the dispatcher's limit (4096 bytes here); nothing ran."""
    event = make_event(FinishedJourney, padding="x" * 5000)

    reply = send("POST", body_of(event), HEADERS)

    assert (reply.status, outcome(reply)) == (413, "too_large")
    assert recorder.seen == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_get_405(send: Send, method: str, recorder: Recorder) -> None:
    """405 with Allow: POST, answered by the dispatcher rather than the framework."""
    reply = send(method, b"", {})

    assert (reply.status, outcome(reply)) == (405, "method_not_allowed")
    assert reply.headers["allow"] == "POST"
    assert recorder.seen == []


def test_every_refusal_is_logged_with_the_connecting_peer(
    send: Send, caplog: pytest.LogCaptureFixture
) -> None:
    """405 and 413 are refused before the body is read, yet log the peer as a 401 does."""
    oversized = body_of(make_event(FinishedJourney, padding="x" * 5000))

    with caplog.at_level(logging.INFO, logger="idwise_events"):
        send("GET", b"", {})
        send("POST", oversized, HEADERS)
        send("POST", body_of(make_event(FinishedJourney)), {"Authorization": "Bearer wrong"})

    peers = {
        record.outcome: record.client_ip  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "idwise_events"
    }
    assert set(peers) == {"method_not_allowed", "too_large", "unauthorized"}
    assert peers["unauthorized"] is not None
    assert peers["method_not_allowed"] == peers["too_large"] == peers["unauthorized"]


def test_the_dispatchers_limit_applies_not_the_frameworks(mount: Mount, recorder: Recorder) -> None:
    """3 MB under a 4 MiB max_body_bytes: processed, over aiohttp's and Django's own limits.

    aiohttp's ``client_max_size`` is 1 MiB, Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` 2.5 MB.
    """
    dispatcher = Dispatcher(verifier=VERIFIER, max_body_bytes=4 * 1024 * 1024)
    dispatcher.on_any(recorder)
    event = make_event(FinishedJourney, padding="x" * 3_000_000)

    reply = mount(dispatcher)("POST", body_of(event), HEADERS)

    assert (reply.status, outcome(reply)) == (200, "processed")
    assert recorder.seen == [event]
