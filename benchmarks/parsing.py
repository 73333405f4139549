"""Parsing benchmarks: parse_event against the alternatives a user could write by hand."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import from_json

from harness import Comparison
from idwise_events import FinishedJourney, KnownEvent, PayloadError, parse_event
from idwise_events.testing import make_event

CURRENT = make_event(FinishedJourney).model_dump_json(by_alias=True, exclude_none=True).encode()
LEGACY = make_event(FinishedJourney, event_id=None, manual_decision="Approved").model_dump_json(
    by_alias=True
)
UNKNOWN = json.dumps({"event": "Journey Archived", "body": {"eventId": "e-1", "a": 1}}).encode()

MIB = 1_048_576


def _filled(head: str, item: str, tail: str) -> bytes:
    """``head`` + as many comma-separated ``item`` as fit in 1 MiB + ``tail``."""
    count = (MIB - len(head) - len(tail)) // (len(item) + 1)
    return (head + ",".join([item] * count) + tail).encode()


# 1 MiB bodies: each hostile one next to a valid body of the same shape and size.
_STEPS = (
    '{"event": "Verification Update Required", "body": {"eventId": "e-1", "journeyId": "j",'
    ' "systemDecision": "Refer", "finalDecision": "Refer", "trigger": "KYC Renewal",'
    ' "requiredSteps": ['
)
VALID_STEPS = _filled(_STEPS, '{"stepId": "20", "reasonCode": "DOCUMENT_EXPIRED"}', "]}}")
INVALID_STEPS = _filled(_STEPS, "{}", "]}}")  # the example: each step misses stepId
_NESTING = "[" * 10 + "]" * 10
VALID_NESTING = _filled(
    '{"event": "Finished Journey", "body": {"journeyId": "j", "systemDecision": "Complete", "x": [',
    _NESTING,
    "]}}",
)
# The costliest rejection found: a name matched only ignoring case (three validations), a
# body full of values to build, and a missing field, whose error holds the whole body.
HOSTILE_NESTING = _filled(
    '{"event": "finished journey", "body": {"systemDecision": "Complete", "x": [',
    _NESTING,
    "]}}",
)


def with_extra_fields(size: int) -> bytes:
    """A Finished Journey of about ``size`` bytes: fields IDWise may add, as objects and lists."""
    envelope: dict[str, Any] = {
        "event": "Finished Journey",
        "body": {"eventId": "e-1", "journeyId": "j", "systemDecision": "Complete"},
    }
    extra = {"a": [1, 2, "x" * 20], "b": "y" * 30, "c": None}
    step = len(json.dumps(extra)) + 12
    for index in range(max(0, (size - len(json.dumps(envelope))) // step)):
        envelope["body"][f"extra{index}"] = extra
    return json.dumps(envelope).encode()


SIZES = {"200 B": 200, "4 KiB": 4096, "64 KiB": 65_536, "1 MiB": MIB - 1024}


def rejected(body: bytes) -> None:
    try:
        parse_event(body)
    except PayloadError:
        return
    raise AssertionError("a hostile body was accepted")


def parse_current() -> object:
    """The reference cost most rows are compared with: one current payload, from bytes."""
    return parse_event(CURRENT)


def parsing_comparisons() -> list[Comparison]:
    one_model = TypeAdapter(FinishedJourney)  # a bare cached adapter for the one right model
    return [*_small_comparisons(one_model), *_size_comparisons()]


def _size_comparisons() -> list[Comparison]:
    """parse_event at each size against the two ways pydantic parses, on the same models.

    Both baselines validate the same union of known events; only parse_event refuses NaN and
    Infinity (the validate_json baseline would accept them in unknown fields).
    """
    known = TypeAdapter(KnownEvent).validator
    rows = []
    for label, size in SIZES.items():
        body = with_extra_fields(size)
        number = max(3, 2_000_000 // len(body))

        def ours(body: bytes = body) -> object:
            return parse_event(body, max_bytes=None)

        def text(body: bytes = body) -> object:
            return known.validate_json(body, by_name=False)

        def objects(body: bytes = body) -> object:
            data = from_json(body, allow_inf_nan=False)
            return known.validate_python(data, by_name=False)

        def by_hand(body: bytes = body) -> object:
            return FinishedJourney.model_validate(json.loads(body))

        rows += [
            Comparison(f"parse_event({label}) / validate_json", ours, text, 1.1, number),
            Comparison(
                f"parse_event({label}) / from_json + validate_python", ours, objects, 1.1, number
            ),
            Comparison(
                f"parse_event({label}) / json.loads + FinishedJourney.model_validate",
                ours,
                by_hand,
                1.0,  # never slower
                number,
            ),
        ]
    return rows


def _small_comparisons(one_model: TypeAdapter[FinishedJourney]) -> list[Comparison]:
    return [
        Comparison(
            "parse_event(bytes) / TypeAdapter(FinishedJourney).validate_json",
            parse_current,
            lambda: one_model.validate_json(CURRENT),
            bar=1.2,
        ),
        Comparison(
            "parse_event(bytes) / json.loads + FinishedJourney.model_validate",
            parse_current,
            lambda: FinishedJourney.model_validate(json.loads(CURRENT)),
            bar=0.5,  # at least 2x faster
        ),
        Comparison(
            "parse_event(str) / parse_event(bytes)",
            lambda: parse_event(CURRENT.decode()),
            parse_current,
        ),
        Comparison(
            "parse_event(unknown event) / parse_event(known event)",
            lambda: parse_event(UNKNOWN),
            parse_current,
        ),
        Comparison(
            "legacy parse + idempotency_key / parse_event(bytes)",
            lambda: parse_event(LEGACY).idempotency_key,
            parse_current,
        ),
        Comparison(
            "reject 1 MiB of invalid steps / parse 1 MiB of valid steps",
            lambda: rejected(INVALID_STEPS),
            lambda: parse_event(VALID_STEPS),
            bar=3.0,  # "a few times" (DESIGN.md); it was 100-300x before lists failed fast
            number=3,
        ),
        Comparison(
            "reject worst 1 MiB nesting (other spelling) / parse valid nesting",
            lambda: rejected(HOSTILE_NESTING),
            lambda: parse_event(VALID_NESTING),
            number=1,
        ),
    ]
