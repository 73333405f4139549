"""One event as a person reads it: its type, ids, decisions, and the fields this version lacks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .._events import Event, UnknownEvent
from ._terminal import printable, printable_list

# Shown first, in this order, when present; the other known fields follow in the model's order.
_LEADING = ("eventId", "journeyId", "referenceNo")
# Left out of a handler's view: they say which journey, not what happened to it.
_IDS = {"event_id", "journey_id", "reference_no", "spot_check_journey_id", "ongoing_check_id"}
# What the unknown event's raw body may tell about the journey.
_UNKNOWN_EVENT_FIELDS = ("eventId", "journeyId", "referenceNo")


@dataclass(frozen=True)
class Description:
    """What a person wants to see of one event."""

    event: str
    """The ``event`` name (a known event's documented name, if sent in other case or spacing)."""
    known: bool
    """False for an event name this version does not know (an `UnknownEvent`)."""
    event_id: str | None
    """The ``eventId``, or ``None`` for a legacy payload."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The body's known fields that are set, by wire name, as JSON values."""
    unknown_fields: list[str] = field(default_factory=list)
    """Paths of the fields the models do not know (``body.riskScore``), which IDWise may add."""

    def field_text(self, *, include_event_id: bool = True) -> str:
        """``eventId=... journeyId=... systemDecision=Complete``: the fields as one line.

        Each value escaped and capped (`printable`): the sender chose them.
        """
        return " ".join(
            f"{name}={printable(_text(value))}"
            for name, value in self.fields.items()
            if include_event_id or name != "eventId"
        )

    def name_text(self) -> str:
        """The event name as sent, escaped and capped for a terminal."""
        return printable(self.event)

    def unknown_text(self) -> str:
        """The unknown fields' paths, escaped, capped, comma-separated (the sender named them)."""
        return printable_list(self.unknown_fields)

    def as_json(self) -> dict[str, Any]:
        """The description as a JSON object (for ``--json`` output)."""
        return {
            "event": self.event,
            "known_event": self.known,
            "event_id": self.event_id,
            "fields": self.fields,
            "unknown_fields": self.unknown_fields,
        }


def describe(event: Event) -> Description:
    """Describe ``event`` for a person: its fields by wire name, unknown ones flagged."""
    if isinstance(event, UnknownEvent):
        raw = {name: event.body[name] for name in _UNKNOWN_EVENT_FIELDS if name in event.body}
        return Description(event.event, False, event.event_id, raw)
    body = event.body
    extras = set(body.model_extra or {})
    dumped = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    known = {name: value for name, value in dumped.items() if name not in extras}
    fields = {name: known.pop(name) for name in _LEADING if name in known}
    fields.update(known)
    unknown = [f"body.{name}" for name in sorted(extras)]
    unknown.extend(_nested_unknown(body, "body"))
    unknown[:0] = sorted(event.model_extra or {})  # beside "event" and "body" in the envelope
    return Description(event.event, True, event.event_id, fields, unknown)


def handler_view(event: Event) -> list[str]:
    """What a handler holds, briefly: ``["FinishedJourney", "system_decision=Complete"]``.

    The typed model's class, then its attributes other than the ids, with lists as their length.
    """
    if isinstance(event, UnknownEvent):
        return ["UnknownEvent", f"event={printable(repr(event.event))}"]
    shown = [type(event).__name__]
    for name in type(event.body).model_fields:
        value = getattr(event.body, name)
        if value is None or name in _IDS:
            continue
        if isinstance(value, list):
            shown.append(f"{name}=[{len(value)} {'item' if len(value) == 1 else 'items'}]")
        else:
            shown.append(f"{name}={printable(value)}")
    return shown


def _nested_unknown(model: BaseModel, path: str) -> list[str]:
    """Unknown fields inside the model's nested models (``body.requiredSteps[0].note``)."""
    found: list[str] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if not isinstance(item, BaseModel):
                continue
            where = f"{path}.{info.serialization_alias or info.alias or name}" + (
                f"[{index}]" if isinstance(value, list) else ""
            )
            found.extend(f"{where}.{extra}" for extra in sorted(item.model_extra or {}))
            found.extend(_nested_unknown(item, where))
    return found


def _text(value: Any) -> str:
    """A field's value on one line: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
