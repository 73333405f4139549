"""The event models against IDWise's documented payloads, stored under tests/payloads/."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from idwise_events import (
    AmlMonitorUpdate,
    AmlMonitorUpdateBody,
    Event,
    EventType,
    FinalDecision,
    FinishedJourney,
    FinishedOngoingCheck,
    FinishedSpotCheck,
    FinishedStep,
    FinishedStepBody,
    FinishedUserSteps,
    KycRenewalDeadlineExceeded,
    ManualDecision,
    ManuallyReviewed,
    PayloadError,
    StepSubmitted,
    StepType,
    SystemDecision,
    UnknownEvent,
    UpdatedJourney,
    UpdatedJourneyAction,
    UpdateTrigger,
    VerificationUpdateRequired,
    parse_event,
)
from idwise_events._events import EventModel, wire_names
from idwise_events._frozen import FrozenDict, FrozenList
from idwise_events.testing import SAMPLE_BODIES

PAYLOADS = Path(__file__).parent / "payloads"
UTC = timezone.utc

# For each payload file: the model it must parse to, and attribute paths with their values.
EXPECTED: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "finished_journey.json": (
        FinishedJourney,
        {
            "event_id": "3f1c2a9e-7b4d-4e21-9c0a-5d8e6f7a1b27",
            "body.journey_id": "6720a1f3c9e84b2d5f0e122e",
            "body.reference_no": "cust-000842",
            "body.system_decision": SystemDecision.COMPLETE,
            "body.manual_decision": None,
            "body.final_decision": None,
        },
    ),
    "finished_journey.legacy.json": (
        FinishedJourney,
        {
            "event_id": None,
            "body.journey_id": "62e6b0c4a1f2d93e7c815d0c",
            "body.system_decision": SystemDecision.REFER,
            "body.manual_decision": None,
            "body.final_decision": FinalDecision.REFER,
        },
    ),
    "finished_journey.extra.json": (
        FinishedJourney,
        {
            "body.reference_no": None,
            "body.system_decision": "Passed",
            "body.manual_decision": ManualDecision.APPROVED,
            "body.final_decision": FinalDecision.APPROVED,
            "body.model_extra": {"riskScore": 0.12, "flags": ["aml", {"source": "ogm"}]},
            "model_extra": {"deliveredAt": "2026-11-01T10:00:00Z"},
        },
    ),
    "manually_reviewed.json": (
        ManuallyReviewed,
        {
            "event_id": "b8e0d7c2-41af-4f55-8d3b-0f6a9e2c4d11",
            "body.system_decision": SystemDecision.REFER,
            "body.manual_decision": ManualDecision.APPROVED,
            "body.final_decision": FinalDecision.APPROVED,
        },
    ),
    "manually_reviewed.legacy.json": (
        ManuallyReviewed,
        {"event_id": None, "body.manual_decision": ManualDecision.REJECTED},
    ),
    "manually_reviewed.extra.json": (
        ManuallyReviewed,
        {
            "body.manual_decision": ManualDecision.RESUBMISSION_REQUESTED,
            "body.model_extra": {"reviewer": {"id": "u-17", "comment": None}},
        },
    ),
    "aml_monitor_update.json": (
        AmlMonitorUpdate,
        {
            "event": "AML Monitor Update",
            "body.system_decision": SystemDecision.REFER,
            "body.previous_system_decision": SystemDecision.COMPLETE,
            "body.updated_aml_version_number": 3,
            "body.final_decision": None,
        },
    ),
    "aml_monitor_update.misspelt.json": (
        AmlMonitorUpdate,
        {"event": "AML Monior Update", "body.updated_aml_version_number": 1},
    ),
    "aml_monitor_update.extra.json": (
        AmlMonitorUpdate,
        {
            "body.updated_aml_version_number": 4,
            "body.final_decision": FinalDecision.REFER,
            "body.model_extra": {"matchCount": 2},
        },
    ),
    "finished_user_steps.json": (
        FinishedUserSteps,
        {"body.system_decision": SystemDecision.INCOMPLETE},
    ),
    "finished_user_steps.legacy.json": (
        FinishedUserSteps,
        {"event_id": None, "body.final_decision": FinalDecision.INCOMPLETE},
    ),
    "finished_user_steps.extra.json": (
        FinishedUserSteps,
        {
            "body.system_decision": "Processing",
            "body.model_extra": {"customSteps": ["gov-db-face"]},
        },
    ),
    "finished_step.json": (
        FinishedStep,
        {"body.step_id": "20", "body.step_type": None, "body.system_decision": None},
    ),
    "finished_step.extra.json": (
        FinishedStep,
        {
            "body.step_id": "20",
            "body.step_type": "Proof of Address",
            "body.system_decision": SystemDecision.COMPLETE,
            "body.model_extra": {"side": "back", "status": "Submitted"},
        },
    ),
    "updated_journey.json": (
        UpdatedJourney,
        {
            "body.action": UpdatedJourneyAction.AML_OGM_UPDATE,
            "body.manual_decision": None,
            "body.final_decision": FinalDecision.REFER,
        },
    ),
    "updated_journey.manual_review.json": (
        UpdatedJourney,
        {
            "body.action": UpdatedJourneyAction.MANUAL_REVIEW,
            "body.final_decision": FinalDecision.APPROVED,
        },
    ),
    "updated_journey.extra.json": (
        UpdatedJourney,
        {
            "body.action": "AML Match Status Update",
            "body.model_extra": {
                "manualReviewDecision": {
                    "decision": "Rejected",
                    "steps": [
                        {"stepId": "20", "decision": "Resubmit", "reason": "RESUBMIT_BAD_QUALITY"}
                    ],
                }
            },
        },
    ),
    "verification_update_required.json": (
        VerificationUpdateRequired,
        {
            "body.trigger": UpdateTrigger.KYC_RENEWAL,
            "body.required_steps.0.step_id": "20",
            "body.required_steps.0.reason_code": "DOCUMENT_EXPIRED",
            "body.required_steps.0.renewal_deadline": None,
        },
    ),
    "verification_update_required.extra.json": (
        VerificationUpdateRequired,
        {
            "body.trigger": UpdateTrigger.MANUAL_REVIEW,
            "body.required_steps.0.renewal_deadline": datetime(2025, 9, 15, tzinfo=UTC),
            "body.required_steps.0.model_extra": {"stepTitle": "Photo ID"},
            "body.required_steps.1.step_id": "50",
            "body.required_steps.1.reason_code": None,
            "body.model_extra": {"gracePeriodDays": 14},
        },
    ),
    "kyc_renewal_deadline_exceeded.json": (
        KycRenewalDeadlineExceeded,
        {
            "body.journey_id": "6720a1f3c9e84b2d5f0e122e",
            "body.required_steps.0.step_id": "20",
            "body.required_steps.0.renewal_deadline": datetime(2025, 9, 15, tzinfo=UTC),
        },
    ),
    "kyc_renewal_deadline_exceeded.extra.json": (
        KycRenewalDeadlineExceeded,
        {
            "body.required_steps.0.renewal_deadline": datetime(
                2025, 9, 15, tzinfo=timezone(timedelta(hours=4))
            ),
            "body.required_steps.0.model_extra": {"renewalType": "Time Based"},
            # Not ISO-8601: kept as the string rather than refused.
            "body.required_steps.1.renewal_deadline": "15/09/2025",
            "body.model_extra": {"systemDecision": "Complete"},
        },
    ),
    "finished_spot_check.json": (
        FinishedSpotCheck,
        {
            "body.spot_check_journey_id": "65ee41b09c2d7f3a18d700ca",
            "body.journey_id": None,
            "body.system_decision": SystemDecision.COMPLETE,
        },
    ),
    "finished_spot_check.extra.json": (
        FinishedSpotCheck,
        {
            "body.system_decision": SystemDecision.REJECTED,
            "body.journey_id": "6720a1f3c9e84b2d5f0e122e",
            "body.model_extra": {"similarityScore": 0.41},
        },
    ),
    "finished_ongoing_check.json": (
        FinishedOngoingCheck,
        {
            "body.ongoing_check_id": "65ee41b09c2d7f3a18d700ca",
            "body.journey_id": "6720a1f3c9e84b2d5f0e122e",
        },
    ),
    "finished_ongoing_check.extra.json": (
        FinishedOngoingCheck,
        {
            "body.system_decision": SystemDecision.REFER,
            "body.model_extra": {"selfie": {"liveness": "Failed"}},
        },
    ),
    "step_submitted.legacy.json": (
        StepSubmitted,
        {"event_id": None, "body.step_id": "1", "body.step_type": StepType.DOCUMENT},
    ),
    "step_submitted.extra.json": (
        StepSubmitted,
        {
            "event_id": "6d0e1f2a-3b4c-4d5e-8f60-718293a4b5c6",
            "body.step_id": "2",
            "body.step_type": StepType.SELFIE,
            "body.model_extra": {"status": "Submitted"},
        },
    ),
    "unknown_event.json": (
        UnknownEvent,
        {
            "event": "Journey Archived",
            "event_id": "11111111-2222-4333-8444-555555555555",
            "body": {
                "eventId": "11111111-2222-4333-8444-555555555555",
                "journeyId": "6720a1f3c9e84b2d5f0e122e",
                "archivedBy": "retention-policy",
            },
        },
    ),
}


def attribute(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def test_every_payload_file_has_expectations() -> None:
    """Each file in tests/payloads is checked, and each expectation has its file."""
    assert sorted(path.name for path in PAYLOADS.glob("*.json")) == sorted(EXPECTED)


def test_every_event_type_has_current_and_extra_payloads() -> None:
    """The payload set covers all eleven types, with an extra-fields file for each."""
    stems = {name.split(".")[0] for name in EXPECTED}
    assert len(stems - {"unknown_event"}) == len(EventType) == 11
    for stem in stems - {"unknown_event"}:
        assert f"{stem}.extra.json" in EXPECTED
        assert f"{stem}.json" in EXPECTED or f"{stem}.legacy.json" in EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload_file_parses_to_the_right_model_and_values(name: str) -> None:
    """Documented payloads parse to their model with the documented values."""
    raw = (PAYLOADS / name).read_bytes()
    model, expected = EXPECTED[name]

    event = parse_event(raw)

    assert type(event) is model
    for path, value in expected.items():
        actual = attribute(event, path)
        assert actual == value, path
        # Enum members, not look-alike strings; JSON objects and arrays come back read-only.
        assert type(actual) is _READ_ONLY.get(type(value), type(value)), path


_READ_ONLY: dict[type, type] = {dict: FrozenDict, list: FrozenList}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload_file_round_trips_to_the_same_wire_json(name: str) -> None:
    """Dumping by alias gives back the original JSON, extra fields included."""
    raw = (PAYLOADS / name).read_bytes()
    event = parse_event(raw)

    dumped = json.loads(event.model_dump_json(by_alias=True, exclude_unset=True))

    assert dumped == normalised(json.loads(raw))
    assert parse_event(event.model_dump_json(by_alias=True)) == event


def normalised(value: Any) -> Any:
    """A wire payload as the models read it: numeric step ids as text, the AML version a number."""
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: normalised(item) for key, item in value.items()}
    if isinstance(result.get("stepId"), int):
        result["stepId"] = str(result["stepId"])
    if "updatedAMLVersionNumber" in result:
        result["updatedAMLVersionNumber"] = int(result["updatedAMLVersionNumber"])
    return result


def test_open_enums_keep_unknown_strings_and_build_members_for_known_ones() -> None:
    """A documented value becomes the enum member; any other string is kept as sent."""
    known = parse_event((PAYLOADS / "finished_journey.json").read_bytes())
    unknown = parse_event((PAYLOADS / "finished_journey.extra.json").read_bytes())

    assert isinstance(known, FinishedJourney)
    assert isinstance(unknown, FinishedJourney)
    decision: str = known.body.system_decision
    assert decision == "Complete"
    assert str(decision) == "Complete"
    assert f"{decision}" == "Complete"
    assert decision is SystemDecision.COMPLETE
    assert unknown.body.system_decision == "Passed"
    assert not isinstance(unknown.body.system_decision, SystemDecision)


def test_models_accept_python_names_and_wire_names_when_constructed() -> None:
    """Building a body in Python works with snake_case names or camelCase aliases."""
    by_name = FinishedStepBody(journey_id="j1", step_id="3")
    by_alias = FinishedStepBody.model_validate({"journeyId": "j1", "stepId": 3})

    assert by_name == by_alias
    assert by_alias.step_id == "3"


def test_wire_parsing_uses_wire_names_only() -> None:
    """On the wire a snake_case key is an unknown extra field, not the field itself."""
    payload = {"event": "Finished Step", "body": {"journey_id": "j1"}}
    with pytest.raises(Exception, match="journeyId"):
        parse_event(payload)


def test_models_are_immutable() -> None:
    """Events are facts: changing one raises instead of silently diverging from the wire."""
    event = parse_event((PAYLOADS / "finished_journey.json").read_bytes())
    assert isinstance(event, FinishedJourney)
    with pytest.raises(ValidationError):
        event.body.journey_id = "other"  # type: ignore[misc]  # frozen on purpose


def test_event_union_works_in_a_type_adapter() -> None:
    """`Event` validates known and unknown envelopes through a plain pydantic TypeAdapter."""
    adapter: TypeAdapter[Event] = TypeAdapter(Event)
    known = adapter.validate_json((PAYLOADS / "finished_spot_check.json").read_bytes())
    unknown = adapter.validate_python({"event": "Journey Archived", "body": {"x": 1}})
    misspelt = adapter.validate_json((PAYLOADS / "aml_monitor_update.misspelt.json").read_bytes())

    assert isinstance(known, FinishedSpotCheck)
    assert isinstance(unknown, UnknownEvent)
    assert unknown.body == {"x": 1}
    assert isinstance(misspelt, AmlMonitorUpdate)
    assert adapter.validate_python(known) is known
    with pytest.raises(ValidationError, match="string 'event'"):
        adapter.validate_python({"event": 3, "body": {}})


NESTED_EXTRAS = json.dumps(
    {
        "event": "Verification Update Required",
        "sentAt": ["2026-11-01"],
        "body": {
            **SAMPLE_BODIES[VerificationUpdateRequired],
            "requiredSteps": [{"stepId": "20", "hints": {"side": ["front"]}}],
            "flags": ["aml", {"source": ["ogm"]}],
        },
    }
).encode()

_CHANGES: dict[str, Callable[[Any], object]] = {
    "body.model_extra[key] =": lambda event: event.body.model_extra.__setitem__("x", 1),
    "body.model_extra.update": lambda event: event.body.model_extra.update(x=1),
    "body.model_extra.pop": lambda event: event.body.model_extra.pop("flags"),
    "extra list.append": lambda event: event.body.model_extra["flags"].append("x"),
    "extra list[0] =": lambda event: event.body.flags.__setitem__(0, "x"),
    "nested extra dict": lambda event: event.body.flags[1].__setitem__("source", "x"),
    "nested extra list": lambda event: event.body.flags[1]["source"].append("x"),
    "dict(model) value": lambda event: dict(event.body)["flags"].clear(),
    "envelope extra": lambda event: event.model_extra["sentAt"].append("x"),
    "steps.append": lambda event: event.body.required_steps.append(event.body.required_steps[0]),
    "steps[0] =": lambda event: event.body.required_steps.__setitem__(0, None),
    "step extra": lambda event: event.body.required_steps[0].hints["side"].append("back"),
    "step.model_extra": lambda event: event.body.required_steps[0].model_extra.clear(),
}


@pytest.mark.parametrize("change", _CHANGES.values(), ids=_CHANGES.keys())
def test_events_are_immutable_all_the_way_down(change: Callable[[Any], object]) -> None:
    """Unknown fields, their nested values and lists of steps refuse changes, as fields do."""
    event = parse_event(NESTED_EXTRAS)

    with pytest.raises(TypeError, match="read-only"):
        change(event)

    assert event == parse_event(NESTED_EXTRAS)  # nothing changed for the next handler


def test_an_unknown_events_body_is_immutable_all_the_way_down() -> None:
    """`UnknownEvent.body` and what it holds refuse changes too."""
    event = parse_event(b'{"event": "Journey Archived", "body": {"eventId": "e", "a": [{"b": 1}]}}')
    assert isinstance(event, UnknownEvent)

    for change in (
        lambda: event.body.__setitem__("eventId", "other"),
        lambda: event.body["a"].append(2),
        lambda: event.body["a"][0].__setitem__("b", 2),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert event.idempotency_key == "e"
    assert event.body == {"eventId": "e", "a": [{"b": 1}]}


def test_read_only_values_still_serialise_compare_copy_and_pickle() -> None:
    """Once read (and so frozen), unknown fields dump, compare, copy and pickle as before."""
    event = parse_event(NESTED_EXTRAS)
    untouched = parse_event(NESTED_EXTRAS)
    assert isinstance(event, VerificationUpdateRequired)
    assert event.body.model_extra == {"flags": ["aml", {"source": ["ogm"]}]}  # frozen from now on

    assert event == untouched
    assert event.model_dump() == untouched.model_dump()
    assert event.model_dump_json(by_alias=True) == untouched.model_dump_json(by_alias=True)
    assert parse_event(event.model_dump_json(by_alias=True)) == event
    assert json.loads(event.model_dump_json(by_alias=True))["body"]["flags"][1] == {
        "source": ["ogm"]
    }
    assert event.idempotency_key == untouched.idempotency_key
    assert pickle.loads(pickle.dumps(event)) == event  # noqa: S301 -- our own bytes
    assert copy.deepcopy(event) == event

    dumped = event.model_dump()
    dumped["body"]["flags"].append("mine")  # a dump is the caller's own, to change
    changed = event.body.model_copy(update={"flags": ["other"]})
    mutable = copy.deepcopy(event.body.model_extra)
    mutable["flags"].append("mine")

    assert changed.model_extra == {"flags": ["other"]}
    assert event == untouched


def test_every_model_field_is_documented() -> None:
    """Each field of each model carries a description (shown in IDEs, docs and the schema)."""
    import idwise_events

    models = [
        obj
        for obj in vars(idwise_events).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel)
    ]
    assert len(models) == 25  # 11 events + 11 bodies + 2 step models + UnknownEvent
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


OTHER_SPELLINGS = [
    ("Finished spot Check", FinishedSpotCheck),  # IDWise's own v2.0 overview writes this
    ("finished journey", FinishedJourney),
    ("  Finished   User Steps ", FinishedUserSteps),
    ("FINISHEDSTEP", FinishedStep),
    ("Aml Monior update", AmlMonitorUpdate),
    ("kyc renewal\tdeadline exceeded", KycRenewalDeadlineExceeded),
]


@pytest.mark.parametrize(("name", "model"), OTHER_SPELLINGS)
def test_a_known_name_in_other_case_or_spacing_parses_to_its_model(
    name: str, model: type[Any]
) -> None:
    """A known name in other case or spacing gives its model, `event` its documented name.

    The field's `Literal` type then says what it holds, for type checkers' narrowing.
    """
    envelope = {"event": name, "body": SAMPLE_BODIES[model]}
    raw = json.dumps(envelope).encode()
    folded = "".join(name.split()).casefold()
    documented = [  # "Finished Spot Check", or for the AML event the one of its two names meant
        wire
        for wire in wire_names(model.event_type.value)
        if "".join(wire.split()).casefold() == folded
    ]

    for body in (raw, raw.decode(), envelope):
        event = parse_event(body)
        assert type(event) is model
        assert [event.event] == documented
    event = parse_event(raw)
    assert parse_event(event.model_dump_json(by_alias=True)) == event
    assert TypeAdapter(Event).validate_json(raw) == event
    assert model.model_validate(envelope) == event


def test_names_that_differ_in_more_than_case_and_spacing_stay_unknown() -> None:
    """Only case and whitespace are ignored: a different word is still an unknown event."""
    for name in ("Finished Journeys", "Finished-Journey", "Finished Journey 2"):
        event = parse_event(json.dumps({"event": name, "body": {}}).encode())
        assert isinstance(event, UnknownEvent)
        assert event.event == name


def test_another_spelling_with_an_invalid_body_names_the_known_event() -> None:
    """A known event under another spelling is validated as that event, errors and all."""
    with pytest.raises(PayloadError, match=r"invalid 'Finished Journey' event: body.journeyId"):
        parse_event(b'{"event": "finished journey", "body": {"systemDecision": "Complete"}}')


def test_a_model_refuses_a_name_that_is_not_one_of_its_spellings() -> None:
    """Building a model with another event's name fails as the plain Literal would."""
    with pytest.raises(ValidationError, match="Input should be 'Finished Journey'"):
        FinishedJourney.model_validate(
            {"event": "Finished Step", "body": SAMPLE_BODIES[FinishedJourney]}
        )


def test_the_json_schema_names_each_event_exactly() -> None:
    """The schema of an event's `event` field is its exact wire name, as before."""
    assert FinishedSpotCheck.model_json_schema()["properties"]["event"]["const"] == (
        "Finished Spot Check"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"journeyId": float("nan")},
        {"eventId": float("inf")},
        {"referenceNo": float("-inf")},
    ],
    ids=["text field", "event id", "optional text field"],
)
def test_models_built_in_python_refuse_non_finite_numbers(changes: dict[str, Any]) -> None:
    """NaN and ±Infinity are refused by the typed fields themselves, not only by parse_event.

    Unknown fields are checked by parse_event's JSON parser (tests/test_parse.py), not per value.
    """
    body = {**SAMPLE_BODIES[FinishedJourney], **changes}
    with pytest.raises(ValidationError, match="finite number"):
        FinishedJourney.model_validate({"event": "Finished Journey", "body": body})


def test_numbers_in_text_fields_are_kept_as_their_text() -> None:
    """Opaque ids may arrive as numbers: integers and finite floats are kept as decimal text."""
    body = {**SAMPLE_BODIES[FinishedJourney], "eventId": 42, "referenceNo": 1.5}
    event = parse_event(json.dumps({"event": "Finished Journey", "body": body}).encode())

    assert isinstance(event, FinishedJourney)
    assert event.event_id == "42"
    assert event.body.reference_no == "1.5"


@pytest.mark.parametrize(
    ("model", "field", "attribute"),
    [
        (UpdatedJourney, "finalDecision", "final_decision"),
        (VerificationUpdateRequired, "finalDecision", "final_decision"),
        (ManuallyReviewed, "finalDecision", "final_decision"),
        (ManuallyReviewed, "manualDecision", "manual_decision"),
    ],
)
def test_a_required_decision_sent_as_null_is_kept_not_refused(
    model: type[EventModel], field: str, attribute: str
) -> None:
    """IDWise documents the decisions as nullable: a null is None; a missing key is refused."""
    name = model.event_type.value
    body = {**SAMPLE_BODIES[model], field: None}
    event = parse_event(json.dumps({"event": name, "body": body}).encode())

    assert isinstance(event, model)
    assert getattr(event.body, attribute) is None
    missing = {key: value for key, value in body.items() if key != field}
    with pytest.raises(PayloadError, match=f"body.{field}: Field required"):
        parse_event(json.dumps({"event": name, "body": missing}).encode())


@pytest.mark.parametrize("key", ["updatedAMLVersionNumber", "updatedAmlVersionNumber"])
def test_the_aml_version_number_takes_idwises_spelling_and_the_camel_case_one(key: str) -> None:
    """IDWise spells it updatedAMLVersionNumber; the camelCase of the other fields is read too."""
    body = {**SAMPLE_BODIES[AmlMonitorUpdate]}
    del body["updatedAMLVersionNumber"]
    body[key] = 7
    event = parse_event(json.dumps({"event": "AML Monitor Update", "body": body}).encode())

    assert isinstance(event, AmlMonitorUpdate)
    assert event.body.updated_aml_version_number == 7
    assert event.model_dump(mode="json", by_alias=True)["body"]["updatedAMLVersionNumber"] == 7
    by_name = AmlMonitorUpdateBody(
        journey_id="j",
        system_decision="Refer",
        previous_system_decision="Complete",
        updated_aml_version_number=7,
    )
    assert by_name.updated_aml_version_number == 7
