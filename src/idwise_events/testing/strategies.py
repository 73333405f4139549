"""Hypothesis strategies for IDWise webhooks, for property tests of your handlers and of ours.

```python
from hypothesis import given
from idwise_events import FinishedJourney
from idwise_events.testing.strategies import events

@given(events(FinishedJourney))
def test_handler_accepts_any_finished_journey(event):
    handle(event)
```

The wire payloads follow IDWise's specification field by field (written out below, apart from
the models, so the two check each other), with the twists real payloads have: extra keys IDWise
may add at any time, enum strings nobody has documented yet, optional fields missing or ``null``,
numeric step ids, and legacy payloads without ``eventId``.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cache
from typing import Any, TypeVar, overload

try:
    from hypothesis import strategies as st
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'idwise_events.testing.strategies needs hypothesis: pip install "idwise-events[testing]"'
    ) from _missing

from .._enums import (
    MISSPELT_AML_MONITOR_UPDATE,
    EventType,
    FinalDecision,
    ManualDecision,
    StepType,
    SystemDecision,
    UpdatedJourneyAction,
    UpdateTrigger,
)
from .._events import Event, KnownEvent, known_event_name
from .._parse import parse_event
from ._samples import EventTypeName, resolve_event_type

__all__ = ["event_names", "events", "json_values", "payloads", "unknown_payloads"]

# How a field appears: always, only in current payloads (eventId), or maybe (missing or null).
_REQUIRED, _CURRENT, _OPTIONAL = "required", "current", "optional"


def json_values(*, max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, integers, finite floats, strings, arrays and objects."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def _ids() -> st.SearchStrategy[str]:
    # Opaque: ObjectId-like hex, UUID-like, or any non-empty text (masked ids have '*').
    return (
        st.text(string.hexdigits.lower()[:16], min_size=20, max_size=24)
        | st.uuids().map(str)
        | st.text(min_size=1, max_size=30)
    )


def _step_ids() -> st.SearchStrategy[str | int]:
    # Small integers rendered as strings in webhooks; some REST payloads use plain ints.
    return st.integers(0, 99).map(str) | st.integers(0, 99)


def _open(enum: type[Enum]) -> st.SearchStrategy[str]:
    """A documented value of ``enum`` or, as IDWise may send tomorrow, any other string."""
    return st.sampled_from([member.value for member in enum]) | st.text(max_size=25)


def _deadlines() -> st.SearchStrategy[str]:
    # ISO-8601 in UTC as IDWise documents it, with other offsets, naive, or not a date at all.
    moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
    offsets = st.integers(-14 * 60, 14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    utc = moments.map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    aware = st.builds(lambda moment, tz: moment.replace(tzinfo=tz).isoformat(), moments, offsets)
    naive = moments.map(datetime.isoformat)
    return utc | aware | naive | st.text(max_size=25)


def _object(
    fields: dict[str, tuple[st.SearchStrategy[Any], str]],
    *,
    legacy: bool,
    extra_fields: bool,
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with ``fields`` as their presence says, plus unknown keys."""
    required = {
        key: strategy
        for key, (strategy, presence) in fields.items()
        if presence == _REQUIRED or (presence == _CURRENT and not legacy)
    }
    optional = {
        key: st.none() | strategy
        for key, (strategy, presence) in fields.items()
        if presence == _OPTIONAL
    }
    known = st.fixed_dictionaries(required, optional=optional)
    if not extra_fields:
        return known
    extras = st.dictionaries(
        st.text(max_size=15).filter(lambda key: key not in fields),
        json_values(max_leaves=4),
        max_size=3,
    )
    return st.builds(lambda extra, base: {**extra, **base}, extras, known)


def _body_fields(
    event_type: EventType, *, legacy: bool, extra_fields: bool
) -> dict[str, tuple[st.SearchStrategy[Any], str]]:
    """Every body field of ``event_type`` with its presence, as the specification states it."""
    required_step = _object(
        {
            "stepId": (_step_ids(), _REQUIRED),
            "reasonCode": (st.text(max_size=25), _OPTIONAL),
            "renewalDeadline": (_deadlines(), _OPTIONAL),
        },
        legacy=legacy,
        extra_fields=extra_fields,
    )
    overdue_step = _object(
        {"stepId": (_step_ids(), _REQUIRED), "renewalDeadline": (_deadlines(), _REQUIRED)},
        legacy=legacy,
        extra_fields=extra_fields,
    )
    event_id = {"eventId": (_ids(), _CURRENT)}
    reference = {"referenceNo": (_ids(), _OPTIONAL)}
    journey = {**event_id, "journeyId": (_ids(), _REQUIRED), **reference}
    system = {"systemDecision": (_open(SystemDecision), _REQUIRED)}
    decisions = {
        **system,
        "manualDecision": (_open(ManualDecision), _OPTIONAL),
        "finalDecision": (_open(FinalDecision), _OPTIONAL),
    }
    fields: dict[EventType, dict[str, tuple[st.SearchStrategy[Any], str]]] = {
        EventType.FINISHED_JOURNEY: {**journey, **decisions},
        EventType.MANUALLY_REVIEWED: {
            **journey,
            **system,
            "manualDecision": (_open(ManualDecision), _REQUIRED),
            "finalDecision": (_open(FinalDecision), _REQUIRED),
        },
        EventType.AML_MONITOR_UPDATE: {
            **journey,
            **decisions,
            "previousSystemDecision": (_open(SystemDecision), _REQUIRED),
            "updatedAMLVersionNumber": (st.integers(1, 10_000), _REQUIRED),
        },
        EventType.FINISHED_USER_STEPS: {**journey, **decisions},
        EventType.FINISHED_STEP: {
            **journey,
            "stepId": (_step_ids(), _OPTIONAL),
            "stepType": (_open(StepType), _OPTIONAL),
            "systemDecision": (_open(SystemDecision), _OPTIONAL),
        },
        EventType.UPDATED_JOURNEY: {
            **journey,
            **decisions,
            "finalDecision": (_open(FinalDecision), _REQUIRED),
            "action": (_open(UpdatedJourneyAction), _REQUIRED),
        },
        EventType.VERIFICATION_UPDATE_REQUIRED: {
            **journey,
            **decisions,
            "finalDecision": (_open(FinalDecision), _REQUIRED),
            "trigger": (_open(UpdateTrigger), _REQUIRED),
            "requiredSteps": (st.lists(required_step, min_size=1, max_size=3), _REQUIRED),
        },
        EventType.KYC_RENEWAL_DEADLINE_EXCEEDED: {
            **journey,
            "requiredSteps": (st.lists(overdue_step, min_size=1, max_size=3), _REQUIRED),
        },
        EventType.FINISHED_SPOT_CHECK: {
            **event_id,
            **reference,
            **system,
            "spotCheckJourneyId": (_ids(), _REQUIRED),
            "journeyId": (_ids(), _OPTIONAL),
        },
        EventType.FINISHED_ONGOING_CHECK: {
            **journey,
            **system,
            "ongoingCheckId": (_ids(), _REQUIRED),
        },
        EventType.STEP_SUBMITTED: {
            **journey,
            "stepId": (_step_ids(), _REQUIRED),
            "stepType": (_open(StepType), _REQUIRED),
        },
    }
    return fields[event_type]


def _event_type_of(event_type: EventTypeName, caller: str) -> EventType:
    model, _ = resolve_event_type(event_type, caller=caller)
    return model.event_type


def payloads(
    event_type: EventTypeName | None = None,
    *,
    legacy: bool | None = None,
    extra_fields: bool = True,
) -> st.SearchStrategy[dict[str, Any]]:
    """Decoded wire envelopes ``{"event": ..., "body": {...}}`` that IDWise could send.

    Args:
        event_type: A known event model (``FinishedJourney``), an `EventType`, or an event name
            as `make_event` takes it (``"Finished Journey"``); ``None`` for any.
        legacy: ``True`` for payloads without ``eventId`` (as before 2024), ``False`` for current
            ones, ``None`` for both.
        extra_fields: Add unknown keys to bodies, steps and envelopes, as IDWise may.
    """
    names = list(EventType) if event_type is None else [_event_type_of(event_type, "payloads")]
    kinds = [True, False] if legacy is None else [legacy]
    return st.one_of([_envelopes(name, kind, extra_fields) for name in names for kind in kinds])


@cache  # building these strategies costs far more than drawing from them
def _envelopes(
    name: EventType, legacy: bool, extra_fields: bool
) -> st.SearchStrategy[dict[str, Any]]:
    body = _object(
        _body_fields(name, legacy=legacy, extra_fields=extra_fields),
        legacy=legacy,
        extra_fields=extra_fields,
    )
    wire_names = [name.value]
    if name is EventType.AML_MONITOR_UPDATE:
        wire_names.append(MISSPELT_AML_MONITOR_UPDATE)
    return _object(
        {"event": (st.sampled_from(wire_names), _REQUIRED), "body": (body, _REQUIRED)},
        legacy=legacy,
        extra_fields=extra_fields,
    )


_E = TypeVar("_E", bound=KnownEvent)


@overload
def events(event_type: type[_E], *, legacy: bool | None = None) -> st.SearchStrategy[_E]: ...


@overload
def events(
    event_type: EventType | str | None = None, *, legacy: bool | None = None
) -> st.SearchStrategy[Event]: ...


def events(
    event_type: EventTypeName | None = None, *, legacy: bool | None = None
) -> st.SearchStrategy[Any]:
    """Parsed events built from [`payloads`][idwise_events.testing.strategies.payloads].

    ``event_type`` as `payloads` takes it. Given a model class, the strategy is typed with it:
    ``events(FinishedJourney)`` draws ``FinishedJourney`` instances.
    """
    if event_type is not None:
        _event_type_of(event_type, "events")  # an unknown name fails here, naming events()
    return payloads(event_type, legacy=legacy).map(parse_event)


def event_names() -> st.SearchStrategy[str]:
    """Event names this library does not know, in any spelling (they parse to `UnknownEvent`)."""
    return st.text(max_size=40).filter(lambda name: known_event_name(name) is None)


def unknown_payloads() -> st.SearchStrategy[dict[str, Any]]:
    """Envelopes with an unknown ``event`` name and any JSON object as ``body``."""
    return st.fixed_dictionaries(
        {"event": event_names(), "body": st.dictionaries(st.text(max_size=15), json_values())}
    )
