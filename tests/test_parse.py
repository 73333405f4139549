"""parse_event: every accepted input form, and a clear PayloadError for every bad one."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import ValidationError

from idwise_events import (
    FinishedJourney,
    IdwiseEventsError,
    KycRenewalDeadlineExceeded,
    PayloadError,
    UnknownEvent,
    VerificationUpdateRequired,
    json_schema,
    parse_event,
)
from idwise_events.testing import SAMPLE_BODIES

from .conftest import CANARY

ENVELOPE = {"event": "Finished Journey", "body": SAMPLE_BODIES[FinishedJourney]}
RAW = json.dumps(ENVELOPE).encode()


@pytest.mark.parametrize(
    "body",
    [
        RAW,
        bytearray(RAW),
        memoryview(RAW),
        RAW.decode(),
        ENVELOPE,
        MappingProxyType(ENVELOPE),
    ],
    ids=["bytes", "bytearray", "memoryview", "str", "dict", "mapping"],
)
def test_every_input_form_gives_the_same_event(body: Any) -> None:
    """Bytes, text and decoded mappings all parse to the same typed event."""
    event = parse_event(body)

    assert isinstance(event, FinishedJourney)
    assert event == parse_event(RAW)
    assert event.body.journey_id == "6720a1f3c9e84b2d5f0e122e"


UNKNOWN = {"event": "Journey Archived", "body": {"eventId": "e-1", "nested": {"a": [1, None]}}}


@pytest.mark.parametrize(
    "body",
    [json.dumps(UNKNOWN).encode(), json.dumps(UNKNOWN), UNKNOWN],
    ids=["bytes", "str", "dict"],
)
def test_unknown_event_names_parse_to_unknown_event(body: Any) -> None:
    """An unrecognised `event` is not an error: the envelope is kept as UnknownEvent."""
    event = parse_event(body)

    assert isinstance(event, UnknownEvent)
    assert event.event == "Journey Archived"
    assert event.body == UNKNOWN["body"]
    assert event.event_id == "e-1"
    assert event.idempotency_key == "e-1"


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("invalid utf-8", b'{"event": "Finished Journey", "body": {"journeyId": "\xff"}}', "JSON"),
    ("lone surrogate", '{"event": "x\ud800", "body": {}}', "UTF-8"),
    ("invalid json", b'{"event": "Finished Journey",', "not valid JSON"),
    ("empty", b"", "not valid JSON"),
    ("json array", b"[1, 2]", "must be a JSON object"),
    ("json string", b'"Finished Journey"', "must be a JSON object"),
    ("json null", b"null", "must be a JSON object"),
    ("no event", b'{"body": {}}', "no 'event' field"),
    ("numeric event", b'{"event": 7, "body": {}}', "event: Input should be a valid string"),
    ("null event", b'{"event": null, "body": {}}', "event: Input should be a valid string"),
    ("no body", b'{"event": "Finished Journey"}', "body: Field required"),
    ("array body", b'{"event": "Finished Journey", "body": []}', "body: Input should be"),
    ("unknown event, array body", b'{"event": "Zzz", "body": []}', "body: Input should be"),
    (
        "missing field",
        b'{"event": "Finished Journey", "body": {"journeyId": "j"}}',
        "invalid 'Finished Journey' event: body.systemDecision: Field required",
    ),
    (
        "nested missing field",
        json.dumps(
            {
                "event": "Verification Update Required",
                "body": {**SAMPLE_BODIES[VerificationUpdateRequired], "requiredSteps": [{}]},
            }
        ).encode(),
        "body.requiredSteps[0].stepId: Field required",
    ),
    (
        "wrong type",
        b'{"event": "AML Monitor Update", "body": {"journeyId": "j", "systemDecision": "Refer",'
        b' "previousSystemDecision": "Refer", "updatedAMLVersionNumber": "three"}}',
        "body.updatedAMLVersionNumber: Input should be a valid integer",
    ),
    (
        "boolean version",
        b'{"event": "AML Monitor Update", "body": {"journeyId": "j", "systemDecision": "Refer",'
        b' "previousSystemDecision": "Refer", "updatedAMLVersionNumber": true}}',
        "body.updatedAMLVersionNumber: Input should be a valid integer",
    ),
    ("too deep", b'{"event": "Zzz", "body": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "nested"),
    ("not a body type", 42, "takes bytes, str or a mapping, not int"),
    ("none", None, "not NoneType"),
]


@pytest.mark.parametrize(
    ("body", "message"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_raises_payload_error_naming_the_problem(body: Any, message: str) -> None:
    """Every malformed input gives PayloadError (an IdwiseEventsError) whose message says why."""
    with pytest.raises(PayloadError) as caught:
        parse_event(body)

    assert message in str(caught.value)
    assert isinstance(caught.value, IdwiseEventsError)


def test_validation_failures_keep_the_pydantic_error_as_cause() -> None:
    """The pydantic ValidationError behind a PayloadError is its __cause__, for debugging."""
    with pytest.raises(PayloadError) as caught:
        parse_event(b'{"event": "Finished Journey", "body": {}}')

    assert isinstance(caught.value.__cause__, ValidationError)


def test_error_messages_never_echo_input_values() -> None:
    """A value in the body (which could be personal data) never appears in the message."""
    canary = "CANARY-7f3a9"
    bodies = [
        {"event": "Finished Journey", "body": {"journeyId": {"x": canary}, "systemDecision": 1}},
        {"event": "AML Monitor Update", "body": {"updatedAMLVersionNumber": canary}},
        {"event": "Finished Journey", "body": canary},
        {"event": ["list", canary], "body": {}},
    ]
    for body in bodies:
        with pytest.raises(PayloadError) as caught:
            parse_event(json.dumps(body).encode())
        assert canary not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"event": "Finished Journey", "body": {"journeyId": "j", "systemDecision": None}},
            "invalid 'Finished Journey' event:"
            " body.systemDecision: Input should be a string or a finite number",
        ),
        (
            {
                "event": "KYC Renewal Deadline Exceeded",
                "body": {
                    "journeyId": "j",
                    "requiredSteps": [{"stepId": "1", "renewalDeadline": []}],
                },
            },
            "invalid 'KYC Renewal Deadline Exceeded' event:"
            " body.requiredSteps[0].renewalDeadline: Input should be a string or a finite number",
        ),
    ],
    ids=["open-enum", "deadline"],
)
def test_a_field_of_several_types_fails_once_by_its_wire_path(
    body: dict[str, Any], message: str
) -> None:
    """An open enum or a deadline gets one error, without pydantic's labels for its types."""
    with pytest.raises(PayloadError) as caught:
        parse_event(json.dumps(body))

    assert str(caught.value) == message


@pytest.mark.parametrize("deadline", ["20250915", 20250915, 0, "1726358400.5", "1_000"])
@pytest.mark.parametrize("padding", [0, 4096], ids=["small", "large"])
def test_a_deadline_that_is_a_number_is_kept_as_text_not_read_as_unix_time(
    deadline: object, padding: int
) -> None:
    """A deadline ``20250915`` stays that text: pydantic would read it as seconds since 1970.

    A deadline is ISO 8601 text; one that is not (a number, a date in another form) is kept as
    sent, rather than turned into a wrong date.
    """
    step = {"stepId": "20", "renewalDeadline": deadline}
    body = {"journeyId": "j", "requiredSteps": [step], "padding": " " * padding}

    event = parse_event(json.dumps({"event": "KYC Renewal Deadline Exceeded", "body": body}))

    assert isinstance(event, KycRenewalDeadlineExceeded)
    assert event.body.required_steps[0].renewal_deadline == str(deadline)


def test_an_unknown_events_numeric_event_id_is_its_text_as_for_a_known_event() -> None:
    """``"eventId": 5`` is the id ``"5"`` whatever the event, and so its idempotency key."""
    unknown = parse_event(b'{"event": "Zzz", "body": {"eventId": 5}}')
    known = parse_event(
        b'{"event": "Finished Journey",'
        b' "body": {"eventId": 5, "journeyId": "j", "systemDecision": "Complete"}}'
    )

    assert (unknown.event_id, unknown.idempotency_key) == ("5", "5")
    assert unknown.event_id == known.event_id
    assert parse_event(b'{"event": "Zzz", "body": {"eventId": true}}').event_id is None


def test_long_error_lists_are_summarised() -> None:
    """Many failing fields give a bounded message that counts the rest."""
    body = {"event": "Verification Update Required", "body": {"eventId": [], "referenceNo": []}}
    with pytest.raises(PayloadError, match=r"body.eventId: .*; and 2 more$"):
        parse_event(json.dumps(body))


@pytest.mark.parametrize("event_type", [VerificationUpdateRequired, KycRenewalDeadlineExceeded])
@pytest.mark.parametrize("item", [{}, 1, {"stepId": {}, "renewalDeadline": []}])
def test_a_list_of_invalid_items_stops_at_the_first(event_type: type[Any], item: Any) -> None:
    """A hostile list of 20,000 invalid steps yields the first item's errors, not 20,000+."""
    body = {**SAMPLE_BODIES[event_type], "requiredSteps": [item] * 20_000}
    envelope = {"event": event_type.event_type.value, "body": body}

    with pytest.raises(PayloadError, match=r"body\.requiredSteps\[0\]") as caught:
        parse_event(json.dumps(envelope).encode())

    cause = caught.value.__cause__
    assert isinstance(cause, ValidationError)
    assert cause.error_count() <= 3
    assert "[1]" not in str(caught.value)


NON_FINITE = ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("word", NON_FINITE)
@pytest.mark.parametrize(
    "template",
    [
        '{"event": "Finished Journey", "body": {"eventId": %s, "journeyId": "j",'
        ' "systemDecision": "Complete"}}',
        '{"event": "Finished Journey", "body": {"journeyId": "j", "systemDecision": "Complete",'
        ' "score": [1, %s]}}',
        '{"event": "Finished Journey", "sentAt": %s, "body": {"journeyId": "j",'
        ' "systemDecision": "Complete"}}',
        '{"event": "KYC Renewal Deadline Exceeded", "body": {"journeyId": "j", "requiredSteps":'
        ' [{"stepId": "1", "renewalDeadline": "2025-09-15T00:00:00Z", "grace": %s}]}}',
        '{"event": "Journey Archived", "body": {"eventId": %s}}',
        '{"event": "finished  JOURNEY", "body": {"eventId": %s, "journeyId": "j",'
        ' "systemDecision": "Complete"}}',
    ],
    ids=[
        "event id",
        "extra field",
        "envelope extra",
        "step extra",
        "unknown event",
        "other spelling",
    ],
)
@pytest.mark.parametrize("padding", [0, 4096], ids=["small", "large"])
def test_nan_and_infinity_are_not_json(word: str, template: str, padding: int) -> None:
    """NaN and ±Infinity are not JSON: refused anywhere (as eventIds they would share one key).

    Small bodies are validated as JSON text, large ones decoded first: both paths refuse them.
    """
    text = (template % word)[:-1] + " " * padding + "}"
    for body in (text, text.encode()):
        with pytest.raises(
            PayloadError, match=r"not valid JSON|Input should be (a string or )?a finite number"
        ):
            parse_event(body)


def test_nan_as_a_float_in_a_mapping_is_refused() -> None:
    """A decoded mapping holding a non-finite float is refused like the JSON word."""
    envelope = {"event": "Journey Archived", "body": {"eventId": float("nan")}}
    with pytest.raises(PayloadError, match="not JSON"):
        parse_event(envelope)


@pytest.mark.parametrize("word", NON_FINITE)
def test_nan_deep_inside_many_unknown_fields_is_refused(word: str) -> None:
    """A non-finite number nested in the last of many unknown fields is found, at any size."""
    extras = {f"extra{index}": {"a": [1, 2, "x"], "b": None} for index in range(100)}
    body = {**SAMPLE_BODIES[FinishedJourney], **extras}
    text = json.dumps({"event": "Finished Journey", "body": body})
    text = text.replace('"b": null}}}', f'"b": [{{"c": {word}}}]}}}}}}')
    assert word in text
    for payload in (text, text.encode()):
        with pytest.raises(PayloadError):
            parse_event(payload)


def test_the_words_nan_and_infinity_inside_strings_are_fine() -> None:
    """Only the bare words are refused; text that contains them is ordinary data."""
    body = {**SAMPLE_BODIES[FinishedJourney], "eventId": "NaN-Infinity-1", "note": "-Infinity"}
    event = parse_event(json.dumps({"event": "Finished Journey", "body": body}).encode())

    assert event.idempotency_key == "NaN-Infinity-1"


@pytest.mark.parametrize("number", ["1e999", "-2.5E+400", "1" + "0" * 400 + ".0"])
@pytest.mark.parametrize(
    "template",
    [
        '{"event": "Journey Archived", "body": {"eventId": %s}}',
        '{"event": "Journey Archived", "body": {"eventId": "a-1", "scores": [{"s": %s}]}}',
        '{"event": "Journey Archived", "sentAt": %s, "body": {"eventId": "a-1"}}',
        '{"event": "Finished Journey", "body": {"journeyId": "j", "systemDecision": "Complete",'
        ' "score": %s}}',
        '{"event": "finished  JOURNEY", "body": {"journeyId": "j", "systemDecision": "Complete",'
        ' "score": %s}}',
        '{"event": "Finished Journey", "sentAt": [%s], "body": {"journeyId": "j",'
        ' "systemDecision": "Complete"}}',
        '{"event": "KYC Renewal Deadline Exceeded", "body": {"journeyId": "j", "requiredSteps":'
        ' [{"stepId": "1", "renewalDeadline": "2025-09-15T00:00:00Z", "grace": %s}]}}',
    ],
    ids=[
        "unknown event id",
        "unknown event body",
        "unknown envelope extra",
        "legacy extra field",
        "legacy other spelling",
        "legacy envelope extra",
        "legacy step extra",
    ],
)
@pytest.mark.parametrize("padding", [0, 4096], ids=["small", "large"])
def test_a_number_beyond_a_floats_range_is_refused_where_it_would_make_the_key(
    number: str, template: str, padding: int
) -> None:
    """JSON allows ``1e999``; it decodes as infinity, which would make one key of two events.

    An unknown event's eventId would be ``"inf"``, and a legacy event's digest the same for
    ``1e999`` and ``2e999``.
    """
    text = (template % number)[:-1] + " " * padding + "}"
    for body in (text, text.encode()):
        with pytest.raises(PayloadError, match="beyond a float's range"):
            parse_event(body)


@pytest.mark.parametrize("name", ["Finished Journey", "finished  JOURNEY"])
@pytest.mark.parametrize("padding", [0, 4096], ids=["small", "large"])
def test_a_number_beyond_a_floats_range_beside_an_event_id_is_kept_as_infinity(
    name: str, padding: int
) -> None:
    """With an eventId the key does not depend on it, whichever spelling of the name is sent."""
    body = {**SAMPLE_BODIES[FinishedJourney], "eventId": "e-1", "score": 1.0, "pad": " " * padding}
    text = json.dumps({"event": name, "body": body}).replace("1.0", "1e999")

    for sent in (text, text.encode()):
        event = parse_event(sent)
        assert isinstance(event, FinishedJourney)
        assert event.idempotency_key == "e-1"
        assert event.body.model_extra == {"score": float("inf"), "pad": " " * padding}


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def _self_referencing() -> dict[str, Any]:
    body: dict[str, Any] = {"journeyId": "j", "systemDecision": "Complete"}
    body["self"] = body
    return body


def _deeply_nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "body",
    [
        {"journeyId": "j", "systemDecision": "Complete", "raw": b"\xff\xfe"},
        {"journeyId": "j", "systemDecision": "Complete", "thing": _Opaque()},
        {"journeyId": "j", "systemDecision": "Complete", "tags": {"a", "b"}},
        _self_referencing(),
        {"journeyId": "j", "systemDecision": "Complete", "deep": _deeply_nested(100_000)},
    ],
    ids=["bytes", "object", "set", "self-reference", "deep nesting"],
)
def test_a_mapping_holding_values_json_cannot_hold_is_refused(body: dict[str, Any]) -> None:
    """A mapping holding non-JSON values is a PayloadError now, not an error in idempotency_key."""
    for event in ("Finished Journey", "Journey Archived"):
        with pytest.raises(PayloadError) as caught:
            parse_event({"event": event, "body": body})
        assert "<opaque>" not in str(caught.value)


def test_nested_mappings_of_any_kind_are_json_objects() -> None:
    """Mappings other than dict inside a decoded mapping are objects, as at the top level."""
    fields = {
        **SAMPLE_BODIES[FinishedJourney],
        "eventId": "e-1",
        "extra": MappingProxyType({"a": 1}),
    }
    event = parse_event({"event": "Finished Journey", "body": MappingProxyType(fields)})

    assert isinstance(event, FinishedJourney)
    assert event.body.model_extra == {"extra": {"a": 1}}
    assert event.idempotency_key == "e-1"


LEAKY_BODIES: list[tuple[str, Any]] = [
    ("invalid field", b'{"event": "Finished Journey", "body": {"journeyId": {"x": "%s"}}}'),
    ("invalid json", b'{"event": "Finished Journey", "body": {"journeyId": "%s", '),
    ("invalid json text", '{"event": "Finished Journey", "body": {"journeyId": "%s", '),
    ("invalid utf-8", b'{"event": "Zzz", "body": {"a": "%s\xff"}}'),
    ("unknown event", b'{"event": "Zzz", "body": ["%s"]}'),
    ("event not text", b'{"event": ["%s"], "body": {}}'),
    ("other spelling", b'{"event": "finished journey", "body": {"journeyId": ["%s"]}}'),
    ("nan", b'{"event": "Zzz", "body": {"a": "%s", "b": NaN}}'),
    ("mapping", {"event": "Finished Journey", "body": {"journeyId": ["%s"]}}),
    ("mapping, not json", {"event": "Zzz", "body": {"a": "%s", "b": b"%s"}}),
]


def _with_canary(template: Any) -> Any:
    if isinstance(template, bytes):
        return template.replace(b"%s", CANARY.encode())
    if isinstance(template, str):
        return template.replace("%s", CANARY)
    if isinstance(template, dict):
        return {key: _with_canary(value) for key, value in template.items()}
    if isinstance(template, list):
        return [_with_canary(value) for value in template]
    return template


@pytest.mark.parametrize(
    "template", [case[1] for case in LEAKY_BODIES], ids=[case[0] for case in LEAKY_BODIES]
)
def test_a_logged_payload_error_shows_no_value_from_the_body(
    template: Any, no_canary_in_logs: pytest.LogCaptureFixture
) -> None:
    """logger.exception on a PayloadError prints its pydantic cause without any input value."""
    with pytest.raises(PayloadError) as caught:
        parse_event(_with_canary(template))

    logging.getLogger("tests").exception("rejected a webhook", exc_info=caught.value)
    printed = "".join(traceback.format_exception(caught.value))
    assert CANARY not in printed
    assert CANARY not in repr(caught.value.__cause__)


class TestMaxBytes:
    def test_bytes_over_the_limit_are_refused_before_parsing(self) -> None:
        """A body over max_bytes is refused even when it is not JSON at all."""
        with pytest.raises(PayloadError, match="over the 10-byte limit"):
            parse_event(b"x" * 11, max_bytes=10)

    def test_a_body_at_the_limit_is_accepted(self) -> None:
        """The limit is inclusive."""
        assert isinstance(parse_event(RAW, max_bytes=len(RAW)), FinishedJourney)

    def test_text_is_measured_in_utf8_bytes(self) -> None:
        """Multi-byte characters count as their UTF-8 size, not one each."""
        text = json.dumps({"event": "é" * 100, "body": {}}, ensure_ascii=False)
        size = len(text.encode())
        assert isinstance(parse_event(text, max_bytes=size), UnknownEvent)
        with pytest.raises(PayloadError, match=f"payload is {size} bytes"):
            parse_event(text, max_bytes=size - 1)

    def test_default_limit_is_one_mebibyte(self) -> None:
        """Without max_bytes, 1 MiB passes the size check and one byte more does not."""
        padding = " " * (1_048_576 - len(RAW))
        assert isinstance(parse_event(RAW + padding.encode()), FinishedJourney)
        with pytest.raises(PayloadError, match="over the 1048576-byte limit"):
            parse_event(RAW + padding.encode() + b" ")

    @pytest.mark.parametrize("form", [bytes, str])
    def test_none_means_no_limit(self, form: type[Any]) -> None:
        """max_bytes=None parses a body of any size (the server bounds it instead)."""
        padding = " " * 2_000_000
        text = RAW.decode().replace(" ", padding, 1)
        body = text.encode() if form is bytes else text

        assert isinstance(parse_event(body, max_bytes=None), FinishedJourney)

    def test_memoryview_is_measured_in_bytes(self) -> None:
        """A memoryview of wide items is sized by bytes, not items."""
        view = memoryview(RAW).cast("B")
        with pytest.raises(PayloadError, match="over the 8-byte limit"):
            parse_event(view, max_bytes=8)


def test_mapping_path_does_not_need_json() -> None:
    """An already decoded mapping (e.g. from a framework's JSON parser) is validated directly."""

    class Envelope(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return ENVELOPE[key]

        def __iter__(self) -> Any:
            return iter(ENVELOPE)

        def __len__(self) -> int:
            return len(ENVELOPE)

    assert parse_event(Envelope()) == parse_event(RAW)


def test_json_schema_describes_every_event_with_wire_names() -> None:
    """json_schema() is a oneOf over all event models, using camelCase field names."""
    schema = json_schema()

    assert len(schema["oneOf"]) == 12
    body = schema["$defs"]["AmlMonitorUpdateBody"]
    assert {"journeyId", "systemDecision", "updatedAMLVersionNumber"} <= set(body["required"])
    assert body["additionalProperties"] is True
    unknown_event = schema["$defs"]["UnknownEvent"]["properties"]["event"]
    assert "Finished Journey" in unknown_event["not"]["enum"]
    json.dumps(schema)  # plain JSON, ready to publish
