"""Parsing benchmarks: parse_event against the alternatives a user could write by hand."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from harness import Comparison
from idwise_events import FinishedJourney, parse_event
from idwise_events.testing import make_event

CURRENT = make_event(FinishedJourney).model_dump_json(by_alias=True, exclude_none=True).encode()
LEGACY = make_event(FinishedJourney, event_id=None, manual_decision="Approved").model_dump_json(
    by_alias=True
)
UNKNOWN = json.dumps({"event": "Journey Archived", "body": {"eventId": "e-1", "a": 1}}).encode()


def parse_current() -> object:
    """The reference cost most rows are compared with: one current payload, from bytes."""
    return parse_event(CURRENT)


def parsing_comparisons() -> list[Comparison]:
    one_model = TypeAdapter(FinishedJourney)  # a bare cached adapter for the one right model
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
    ]
