"""parse_event: every accepted input form, and a clear PayloadError for every bad one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import ValidationError

from idwise_events import (
    FinishedJourney,
    IdwiseEventsError,
    PayloadError,
    UnknownEvent,
    VerificationUpdateRequired,
    json_schema,
    parse_event,
)
from idwise_events.testing import SAMPLE_BODIES

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


def test_long_error_lists_are_summarised() -> None:
    """Many failing fields give a bounded message that counts the rest."""
    steps = [{"renewalDeadline": "2025-01-01T00:00:00Z"} for _ in range(8)]
    body = {"event": "KYC Renewal Deadline Exceeded", "body": {"requiredSteps": steps}}
    with pytest.raises(PayloadError, match=r"and 4 more$"):
        parse_event(json.dumps(body))


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
