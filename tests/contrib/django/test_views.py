"""The app's endpoint in the test project: statuses, the ORM store, signals, ASGI, transactions."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.dispatch import Signal
from django.test import Client

from idwise_events import BearerAuth, Event, FinishedJourney, ManuallyReviewed, UnknownEvent
from idwise_events.contrib.django import dispatcher, signals
from idwise_events.contrib.django._settings import load_config
from idwise_events.contrib.django._wiring import build_dispatcher
from idwise_events.contrib.django.models import ReceivedEvent
from idwise_events.contrib.django.views import webhook_view
from idwise_events.testing import auth_headers, build_request, make_event

from ...adapters.conftest import PATH, serve_django_async_view, serve_django_view
from ...conftest import CANARY, MODELS
from ...django_project.settings import TOKEN
from ...django_project.verifications.models import JourneyOutcome
from .conftest import HEADERS, URL, body_of, post


class Receiver:
    """A signal receiver that records what it got, and can fail once."""

    def __init__(self) -> None:
        self.got: list[tuple[type[Any], Event]] = []
        self.fail_once = False
        self.in_transaction: list[bool] = []

    def __call__(self, sender: type[Any], event: Event, **kwargs: Any) -> None:
        self.got.append((sender, event))
        self.in_transaction.append(transaction.get_connection().in_atomic_block)
        if self.fail_once:
            self.fail_once = False
            raise RuntimeError("receiver failed")


@pytest.fixture
def connect() -> Iterator[Any]:
    """Connect a new Receiver to a signal for the test."""
    connected: list[tuple[Signal, Receiver]] = []

    def connect(signal: Signal) -> Receiver:
        receiver = Receiver()
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
        return receiver

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


@pytest.mark.django_db
def test_a_delivery_is_processed_once_and_its_retry_acknowledged(client: Client) -> None:
    """200 processed, the app's handler ran and the event is recorded; the retry is a duplicate."""
    event = make_event(FinishedJourney, journey_id="journey-views-1")

    first, retry = post(client, body_of(event)), post(client, body_of(event))

    assert (first, retry) == ((200, "processed"), (200, "duplicate"))
    assert list(JourneyOutcome.objects.values_list("journey_id", "decision")) == [
        ("journey-views-1", "Complete")
    ]
    row = ReceivedEvent.objects.get()
    assert (row.key, row.status, row.event_type, row.journey_id) == (
        event.event_id,
        ReceivedEvent.COMPLETED,
        "Finished Journey",
        "journey-views-1",
    )
    assert row.completed_at is not None
    assert row.received_at <= row.completed_at


@pytest.mark.django_db
def test_wrong_credentials_get_401_and_nothing_is_recorded(client: Client) -> None:
    """A guessed token is refused before parsing; no row, no handler."""
    headers = {**HEADERS, "Authorization": f"Bearer {CANARY}"}

    assert post(client, body_of(make_event(FinishedJourney)), headers) == (401, "unauthorized")
    assert not ReceivedEvent.objects.exists()
    assert not JourneyOutcome.objects.exists()


def test_other_methods_get_405_from_the_dispatcher(client: Client) -> None:
    """GET is answered by the dispatcher's policy (405, Allow: POST), not by Django."""
    response = client.get(URL)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert json.loads(response.content) == {"outcome": "method_not_allowed"}


@pytest.mark.django_db
def test_the_endpoint_needs_no_csrf_token() -> None:
    """With CSRF checks enforced, IDWise's POST (which has no token) is still processed."""
    client = Client(enforce_csrf_checks=True)

    assert post(client, body_of(make_event(FinishedJourney))) == (200, "processed")


@pytest.mark.django_db
def test_a_failing_receiver_gets_500_and_the_retry_runs_everything_again(
    client: Client, connect: Any
) -> None:
    """The claim is released after a failure, so IDWise's retry processes the event."""
    receiver = connect(signals.finished_journey)
    receiver.fail_once = True
    event = make_event(FinishedJourney, journey_id="journey-views-2")

    failed = post(client, body_of(event))
    assert failed == (500, "handler_failed")
    assert not ReceivedEvent.objects.exists()  # released: the next delivery claims it afresh

    assert post(client, body_of(event)) == (200, "processed")
    assert len(receiver.got) == 2
    assert JourneyOutcome.objects.filter(journey_id="journey-views-2").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("model", [*MODELS.values(), UnknownEvent], ids=lambda m: m.__name__)
def test_each_event_sends_its_own_signal_and_event_received(
    client: Client, connect: Any, model: type[Any]
) -> None:
    """Receivers get the typed event, with its class as the sender; no other type's signal."""
    everything = connect(signals.event_received)
    own = connect(signals.SIGNALS[model])
    others = [connect(signal) for kind, signal in signals.SIGNALS.items() if kind is not model]
    if model is UnknownEvent:
        body = b'{"event": "Journey Archived", "body": {"eventId": "archived-1"}}'
    else:
        body = body_of(make_event(model))

    assert post(client, body)[0] == 200

    assert [sender for sender, _ in everything.got] == [model]
    assert own.got == everything.got
    assert isinstance(own.got[0][1], model)
    assert all(not receiver.got for receiver in others)


def test_every_event_class_has_a_signal() -> None:
    """The signals cover each event the parser can return."""
    assert set(signals.SIGNALS) == {*MODELS.values(), UnknownEvent}


@pytest.mark.django_db
def test_a_receiver_of_an_installed_app_acts_on_its_event(client: Client) -> None:
    """The verifications app's receiver (connected in its ready()) updates the decision."""
    journey = "journey-views-3"
    post(client, body_of(make_event(FinishedJourney, journey_id=journey)))
    reviewed = make_event(
        ManuallyReviewed, journey_id=journey, manual_decision="Rejected", final_decision="Rejected"
    )

    assert post(client, body_of(reviewed)) == (200, "processed")
    assert JourneyOutcome.objects.get(journey_id=journey).decision == "Rejected"


@pytest.mark.django_db
def test_handlers_in_webhooks_modules_are_registered_on_the_project_dispatcher() -> None:
    """The verifications app's webhooks.py was imported when Django started: its handler runs."""
    event = make_event(FinishedJourney, journey_id="journey-views-5")

    response = dispatcher.handle(build_request(event, BearerAuth(TOKEN)))

    assert "tests.django_project.verifications.webhooks" in sys.modules
    assert response.status == 200
    assert JourneyOutcome.objects.filter(journey_id="journey-views-5").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
def test_the_async_view_processes_through_the_orm_under_asgi() -> None:
    """Django's ASGI path: handle_async, the store and the plain handler in Django's thread."""
    send = serve_django_async_view(webhook_view(asynchronous=True))
    event = make_event(FinishedJourney, journey_id="journey-views-4")

    replies = [send("POST", body_of(event), HEADERS) for _ in range(2)]

    assert [(reply.status, json.loads(reply.body)["outcome"]) for reply in replies] == [
        (200, "processed"),
        (200, "duplicate"),
    ]
    assert JourneyOutcome.objects.filter(journey_id="journey-views-4").count() == 1
    assert ReceivedEvent.objects.get(key=event.event_id).status == ReceivedEvent.COMPLETED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_the_views_run_outside_atomic_requests(
    monkeypatch: pytest.MonkeyPatch, connect: Any, asynchronous: bool
) -> None:
    """With ATOMIC_REQUESTS on, receivers run outside any transaction, and the async view serves."""
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    receiver = connect(signals.finished_journey)
    webhook = webhook_view(asynchronous=asynchronous)
    send = (serve_django_async_view if asynchronous else serve_django_view)(webhook)

    reply = send("POST", body_of(make_event(FinishedJourney)), HEADERS)

    assert reply.status == 200
    assert receiver.in_transaction == [False]
    assert getattr(webhook, "_non_atomic_requests", set()) == set(connections)


@pytest.mark.parametrize(
    ("setting", "reason"),
    [({}, "no authentication is configured"), ({"BEARER_TOKEN": CANARY, "LEASE": 300}, "LEASE")],
    ids=["no-auth", "bad-lease"],
)
def test_an_invalid_configuration_refuses_every_delivery_saying_why(
    settings: Any, setting: dict[str, Any], reason: str
) -> None:
    """Invalid settings: each delivery raises ImproperlyConfigured (a 500), naming the problem."""
    settings.IDWISE_EVENTS = setting
    send = serve_django_view(webhook_view(build_dispatcher(load_config())))

    with pytest.raises(ImproperlyConfigured, match=reason) as caught:
        send("POST", body_of(make_event(FinishedJourney)), HEADERS)
    assert CANARY not in str(caught.value)
    assert PATH == "/webhooks/idwise"  # where serve_django_view mounted it, beside the app's URL


@pytest.mark.django_db
@pytest.mark.urls("docs.examples.django_own_dispatcher")
def test_the_docs_example_serves_a_dispatcher_of_its_own_on_the_django_store(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/examples/django_own_dispatcher.py: its token, its handler, the events' table."""
    monkeypatch.setenv("KYC_WEBHOOK_TOKEN", "kyc-token")
    event = make_event(FinishedJourney, journey_id="journey-own-1")
    headers = {"Content-Type": "application/json", **auth_headers(BearerAuth("kyc-token"))}

    def deliver() -> tuple[int, str]:
        response = client.post("/hooks/kyc/", body_of(event), "application/json", headers=headers)
        return response.status_code, json.loads(response.content)["outcome"]

    assert [deliver(), deliver()] == [(200, "processed"), (200, "duplicate")]
    assert capsys.readouterr().out == "journey journey-own-1 finished: Complete\n"
    assert ReceivedEvent.objects.get().key == event.event_id


@pytest.mark.django_db
def test_the_docs_handler_is_an_upsert_keyed_on_the_event() -> None:
    """Run again for the same event (a later handler failed), it rewrites its one row."""
    from ...django_project.verifications.webhooks import finished

    event = make_event(FinishedJourney, journey_id="journey-views-6")
    other = make_event(FinishedJourney, journey_id="journey-views-6")

    finished(event)
    finished(event)
    finished(other)

    assert sorted(JourneyOutcome.objects.values_list("event_id", flat=True)) == sorted(
        [event.idempotency_key, other.idempotency_key]
    )


def test_the_project_dispatcher_refuses_a_large_forged_body_before_reading_it(
    settings: Any,
) -> None:
    """Its verifier follows the settings: it is asked from the headers as ours are."""
    forged = {"Authorization": "Bearer forged"}
    authentic = auth_headers(BearerAuth(TOKEN))

    refused = dispatcher.early_response("POST", "100000", "203.0.113.9", headers=forged)
    assert refused is not None
    assert refused.status == 401
    assert dispatcher.early_response("POST", "100000", "203.0.113.9", headers=authentic) is None

    settings.IDWISE_EVENTS = {}  # invalid: the verifier says so once the body is in, as ever
    assert dispatcher.early_response("POST", "100000", "203.0.113.9", headers=forged) is None
