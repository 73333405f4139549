"""idwise_events.testing: realistic events, the headers IDWise sends, and the test doubles."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import datetime, timedelta, timezone
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from idwise_events import (
    AllOf,
    AmlMonitorUpdate,
    BasicAuth,
    BearerAuth,
    Claimed,
    Dispatcher,
    FinishedJourney,
    HeaderAuth,
    InProgress,
    IpAllowlist,
    ManuallyReviewed,
    MemoryStore,
    NoAuth,
    SystemDecision,
    Verifier,
    WebhookRequest,
    parse_event,
)
from idwise_events.testing import (
    SAMPLE_BODIES,
    FakeClock,
    RecordingHandler,
    auth_headers,
    build_lambda_event,
    build_request,
    make_event,
)
from idwise_events.testing.strategies import events, payloads

from .conftest import CANARY, MODELS


@pytest.mark.parametrize("model", list(MODELS.values()), ids=lambda model: model.__name__)
def test_make_event_builds_every_type_with_a_fresh_event_id(model: type[FinishedJourney]) -> None:
    """Each event type gets a valid event with a new eventId per call."""
    first, second = make_event(model), make_event(model)

    assert type(first) is model
    assert first.event_id is not None
    assert second.event_id is not None
    assert first.event_id != second.event_id
    assert parse_event(first.model_dump_json(by_alias=True)) == first


def test_make_event_applies_changes_by_attribute_or_wire_name() -> None:
    """Changes may use snake_case names or camelCase wire names."""
    by_name = make_event(AmlMonitorUpdate, updated_aml_version_number=4, system_decision="Refer")
    by_alias = make_event(ManuallyReviewed, manualDecision="Rejected")

    assert by_name.body.updated_aml_version_number == 4
    assert by_name.body.system_decision is SystemDecision.REFER
    assert by_alias.body.manual_decision == "Rejected"


def test_make_event_keeps_unknown_names_as_extra_fields_and_none_removes() -> None:
    """Unknown names become extra body fields; None removes a field (legacy: no eventId)."""
    event = make_event(FinishedJourney, riskScore=0.3, event_id=None, reference_no=None)

    assert event.body.model_extra == {"riskScore": 0.3}
    assert event.event_id is None
    assert event.body.reference_no is None
    assert event.idempotency_key.startswith("sha256:")


def test_make_event_refuses_changes_that_break_the_model() -> None:
    """Removing a required field is reported, not papered over."""
    with pytest.raises(ValidationError, match="journeyId"):
        make_event(FinishedJourney, journey_id=None)


def test_sample_bodies_do_not_change_between_calls() -> None:
    """make_event copies the samples; it never edits them."""
    before = {model: dict(body) for model, body in SAMPLE_BODIES.items()}
    make_event(FinishedJourney, system_decision="Refer", journey_id="other")
    assert before == SAMPLE_BODIES


@pytest.mark.parametrize(
    ("verifier", "expected"),
    [
        (BasicAuth("idwise", "p:w"), {"Authorization": "Basic aWR3aXNlOnA6dw=="}),
        (BearerAuth(["current", "previous"]), {"Authorization": "Bearer current"}),
        (
            HeaderAuth({"X-Api-Key": ["new", "old"], "X-Tenant": "acme"}),
            {"X-Api-Key": "new", "X-Tenant": "acme"},
        ),
        (
            BearerAuth("token") & HeaderAuth({"X-Api-Key": "key"}) & IpAllowlist(["192.0.2.0/24"]),
            {"Authorization": "Bearer token", "X-Api-Key": "key"},
        ),
        (IpAllowlist(["192.0.2.0/24"]), {}),
    ],
    ids=lambda value: type(value).__name__,
)
def test_auth_headers_are_what_idwise_sends_and_pass_verification(
    verifier: Verifier, expected: dict[str, str]
) -> None:
    """They carry the first (current) credential of each kind, and the verifier accepts them."""
    headers = auth_headers(verifier)

    assert headers == expected
    verifier.verify(WebhookRequest(b"{}", headers, client_ip="192.0.2.1"))


def test_auth_headers_for_no_auth_are_empty() -> None:
    """NoAuth needs no header at all."""
    assert auth_headers(NoAuth()) == {}


def test_auth_headers_refuse_a_configuration_no_request_can_satisfy() -> None:
    """Basic and Bearer together would need two Authorization headers: that is an error."""
    with pytest.raises(ValueError, match="different 'Authorization' headers") as caught:
        auth_headers(AllOf(BasicAuth("idwise", CANARY), BearerAuth(CANARY)))

    assert CANARY not in str(caught.value)
    same = AllOf(BearerAuth(CANARY), HeaderAuth({"authorization": f"Bearer {CANARY}"}))
    assert auth_headers(same) == {"Authorization": f"Bearer {CANARY}"}


class OwnVerifier:
    """A verifier of the user's own: auth_headers cannot know what it needs."""

    def verify(self, request: WebhookRequest) -> None:
        """Accept everything."""


def test_auth_headers_refuse_unknown_verifiers_but_skip_them_inside_all_of() -> None:
    """Alone, an unknown verifier is a TypeError; inside AllOf it adds no headers."""
    with pytest.raises(TypeError, match="not OwnVerifier"):
        auth_headers(OwnVerifier())

    assert auth_headers(BearerAuth("token") & OwnVerifier()) == {"Authorization": "Bearer token"}


@pytest.mark.parametrize("model", list(MODELS.values()), ids=lambda model: model.__name__)
def test_make_event_takes_the_wire_name_or_the_event_type(model: type[FinishedJourney]) -> None:
    """`make_event("Finished Journey")` and `make_event(EventType...)` build that model."""
    by_name = make_event(model.event_type.value, reference_no="ref-1")
    by_member = make_event(model.event_type)

    assert type(by_name) is model
    assert type(by_member) is model
    assert by_name.event == model.event_type.value
    assert by_name.body.reference_no == "ref-1"


@pytest.mark.parametrize("model", list(MODELS.values()), ids=lambda model: model.__name__)
@settings(max_examples=3)
@given(data=st.data())
def test_the_strategies_take_every_spelling_make_event_takes(
    model: type[FinishedJourney], data: st.DataObject
) -> None:
    """payloads() and events() accept the model, the EventType and the wire name alike."""
    dashed = model.event_type.value.lower().replace(" ", "-")  # as `send` takes it
    for spelling in (model, model.event_type, model.event_type.value, model.__name__, dashed):
        assert type(make_event(spelling)) is model
        assert type(parse_event(data.draw(payloads(spelling, extra_fields=False)))) is model
        assert type(data.draw(events(spelling))) is model


def test_the_strategies_refuse_a_name_no_event_has_as_make_event_does() -> None:
    """The same ValueError, naming the function called, for every tool of the kit."""
    for function in (make_event, payloads, events):
        with pytest.raises(ValueError, match=f"{function.__name__}: 'Journey Archived' is not"):
            function("Journey Archived")


def test_a_name_parse_event_would_refuse_goes_on_the_wire_as_documented() -> None:
    """``finished-journey`` (the send commands' spelling) is sent as ``Finished Journey``."""
    event = make_event("finished-journey")

    assert event.event == "Finished Journey"
    assert parse_event(event.model_dump_json(by_alias=True)) == event


def test_make_event_warns_of_a_name_close_to_a_fields() -> None:
    """``sytem_decision=`` would leave the decision unchanged, and the test testing nothing."""
    with pytest.warns(UserWarning, match="did you mean 'system_decision'"):
        event = make_event(FinishedJourney, sytem_decision="Refer")

    assert event.body.system_decision == "Complete"
    assert event.body.model_extra == {"sytem_decision": "Refer"}


def test_make_event_adds_extra_fields_far_from_any_field_without_a_warning() -> None:
    """``matchCount``, a field IDWise might add one day, is no typo."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        event = make_event(FinishedJourney, matchCount=2)

    assert event.body.model_extra == {"matchCount": 2}


def test_make_event_keeps_the_misspelt_aml_name_on_the_wire() -> None:
    """The misspelling IDWise's docs announce builds an AmlMonitorUpdate that keeps it."""
    event = make_event("AML Monior Update", updated_aml_version_number=2)

    assert isinstance(event, AmlMonitorUpdate)
    assert event.event == "AML Monior Update"
    assert parse_event(event.model_dump_json(by_alias=True)) == event


def test_make_event_refuses_names_and_classes_that_are_not_event_types() -> None:
    """An unknown name is a ValueError naming the known ones; another class is a TypeError."""
    with pytest.raises(ValueError, match="'Journey Archived' is not an IDWise event name"):
        make_event("Journey Archived")
    with pytest.raises(ValueError, match="did you mean 'Manually Reviewed'"):
        make_event("Manualy Reviewed")
    with pytest.raises(TypeError, match="an event model, an EventType or an event name"):
        make_event(SystemDecision)  # type: ignore[type-var]


def test_fake_clock_moves_only_when_told_and_expires_a_lease() -> None:
    """A MemoryStore on a FakeClock gives an event to a second worker once the lease has run out."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    first = store.claim("event-1", lease=timedelta(minutes=5), fingerprint="f")

    assert clock() == clock() == clock.now
    assert isinstance(
        store.claim("event-1", lease=timedelta(minutes=5), fingerprint="f"), InProgress
    )
    assert clock.advance(minutes=5, seconds=1) == datetime(
        2026, 1, 1, 12, 5, 1, tzinfo=timezone.utc
    )
    second = store.claim("event-1", lease=timedelta(minutes=5), fingerprint="f")

    assert isinstance(first, Claimed)
    assert isinstance(second, Claimed)
    assert not store.complete("event-1", first.token)  # the crashed worker is fenced out
    assert store.complete("event-1", second.token)
    assert clock.advance(timedelta(days=1)).day == 2


def test_fake_clock_refuses_a_naive_start() -> None:
    """Stores compare aware UTC times: a naive start would fail later, so it fails at once."""
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(start=datetime(2026, 1, 1))  # a naive time, on purpose


def test_fake_clock_refuses_a_bare_number() -> None:
    """``advance(5)``: seconds, minutes? The message says what it takes, nothing moves."""
    clock = FakeClock()
    start = clock.now
    with pytest.raises(TypeError, match=r"takes a timedelta or units \(seconds=5\), not int"):
        clock.advance(5)  # type: ignore[arg-type]  # a misuse, on purpose
    assert clock.now == start


def test_build_request_sends_a_dict_envelope_as_json_and_refuses_other_types() -> None:
    """A dict is what a test writing a payload by hand has: it is sent as its JSON text."""
    envelope = {"event": "Finished Journey", "body": {"journeyId": "j", "systemDecision": "Refer"}}

    request = build_request(envelope)

    assert isinstance(parse_event(request.body), FinishedJourney)
    assert json.loads(request.body) == envelope
    with pytest.raises(TypeError, match="takes an event, bytes, str or a dict envelope, not int"):
        build_request(42)  # type: ignore[arg-type]  # a misuse, on purpose


def test_recording_handler_records_and_fails_on_purpose_so_the_retry_runs() -> None:
    """fail_next makes the delivery a 500 and the retry a 200 that records the event once."""
    handler = RecordingHandler()
    dispatcher = Dispatcher(verifier=BearerAuth("test-token"), store=MemoryStore())
    dispatcher.on_any(handler)
    event = make_event(FinishedJourney)
    request = build_request(event, dispatcher.verifier)
    handler.fail_next(error=LookupError("database down"))

    statuses = [dispatcher.handle(request).status for _ in range(3)]

    assert statuses == [500, 200, 200]
    assert handler.events == [event]
    assert handler.failures == [event]
    assert handler.event_ids == [event.event_id]
    assert repr(handler) == "RecordingHandler(<1 events, 1 failures>)"


def test_build_request_refuses_an_event_types_name_for_a_body() -> None:
    """A str is sent as the raw body: an event type's name is a mistake, said with the fix."""
    with pytest.raises(ValueError, match=r"build_request\(make_event\('Finished Journey'\)"):
        build_request("Finished Journey", BearerAuth("t"))

    assert build_request("not json").body == b"not json"


@pytest.mark.parametrize("shape", ["rest-v1", "http-v2", "function-url"])
def test_build_lambda_event_is_answered_by_a_lambda_handler_as_a_delivery(
    shape: Literal["rest-v1", "http-v2", "function-url"],
) -> None:
    """Processed, a retry a duplicate, a forged one 401; the body reaches parse_event exact."""
    from idwise_events.adapters.aws_lambda import lambda_handler

    verifier = BearerAuth(CANARY) & IpAllowlist(["203.0.113.0/24"])
    dispatcher = Dispatcher(verifier=verifier)
    handler = RecordingHandler()
    dispatcher.on_any(handler)
    handle = lambda_handler(dispatcher)
    event = make_event(FinishedJourney, note="é \u2028")  # non-ASCII, exact through base64

    def outcome(answer: dict[str, object]) -> tuple[object, str]:
        body = base64.b64decode(str(answer["body"]))
        return answer["statusCode"], json.loads(body)["outcome"]

    sent = build_lambda_event(event, verifier, shape=shape, client_ip="203.0.113.9")
    assert outcome(handle(sent, None)) == (200, "processed")
    assert outcome(handle(sent, None)) == (200, "duplicate")
    assert handler.events == [event]
    elsewhere = build_lambda_event(make_event(FinishedJourney), verifier, shape=shape)
    assert outcome(handle(elsewhere, None)) == (401, "unauthorized")  # from 127.0.0.1
    forged = build_lambda_event(make_event(FinishedJourney), shape=shape, client_ip="203.0.113.9")
    assert outcome(handle(forged, None)) == (401, "unauthorized")


def test_build_lambda_event_refuses_an_unknown_shape_and_an_event_type_name() -> None:
    with pytest.raises(ValueError, match="'rest-v1', 'http-v2' or 'function-url'"):
        build_lambda_event(make_event(FinishedJourney), shape="v3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"build_lambda_event\(make_event\('Finished Journey'\)"):
        build_lambda_event("Finished Journey")
