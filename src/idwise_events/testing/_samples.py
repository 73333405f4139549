"""The sample bodies, and the one reading of an event type that the whole testing kit shares.

`make_event`, the hypothesis strategies and the send commands all name an event type the same
ways: its model class, an `EventType` member, or any spelling of its name that `parse_event`
accepts (``"Finished Journey"``, ``"finished journey"``, the misspelt ``"AML Monior Update"``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

from pydantic import BaseModel

from .._enums import MISSPELT_AML_MONITOR_UPDATE, EventType
from .._events import (
    AmlMonitorUpdate,
    FinishedJourney,
    FinishedOngoingCheck,
    FinishedSpotCheck,
    FinishedStep,
    FinishedUserSteps,
    KnownEvent,
    KycRenewalDeadlineExceeded,
    ManuallyReviewed,
    StepSubmitted,
    UpdatedJourney,
    VerificationUpdateRequired,
    known_event_name,
)

EventTypeName = type[Any] | EventType | str
"""How the testing kit takes an event type: a model class, an `EventType` member, or a name."""

_JOURNEY = {"journeyId": "6720a1f3c9e84b2d5f0e122e", "referenceNo": "cust-000842"}

SAMPLE_BODIES: dict[type[Any], dict[str, Any]] = {
    FinishedJourney: {**_JOURNEY, "systemDecision": "Complete"},
    ManuallyReviewed: {
        **_JOURNEY,
        "systemDecision": "Refer",
        "manualDecision": "Approved",
        "finalDecision": "Approved",
    },
    AmlMonitorUpdate: {
        **_JOURNEY,
        "systemDecision": "Refer",
        "previousSystemDecision": "Complete",
        "updatedAMLVersionNumber": 1,
    },
    FinishedUserSteps: {**_JOURNEY, "systemDecision": "Incomplete"},
    FinishedStep: {**_JOURNEY, "stepId": "20"},
    UpdatedJourney: {
        **_JOURNEY,
        "systemDecision": "Refer",
        "manualDecision": None,
        "finalDecision": "Refer",
        "action": "AML OGM Update",
    },
    VerificationUpdateRequired: {
        **_JOURNEY,
        "systemDecision": "Complete",
        "manualDecision": None,
        "finalDecision": "Complete",
        "trigger": "KYC Renewal",
        "requiredSteps": [{"stepId": "20", "reasonCode": "DOCUMENT_EXPIRED"}],
    },
    KycRenewalDeadlineExceeded: {
        **_JOURNEY,
        "requiredSteps": [{"stepId": "20", "renewalDeadline": "2025-09-15T00:00:00Z"}],
    },
    FinishedSpotCheck: {
        "referenceNo": "cust-000842",
        "systemDecision": "Complete",
        "spotCheckJourneyId": "65ee41b09c2d7f3a18d700ca",
    },
    FinishedOngoingCheck: {
        **_JOURNEY,
        "systemDecision": "Complete",
        "ongoingCheckId": "65ee41b09c2d7f3a18d700ca",
    },
    StepSubmitted: {**_JOURNEY, "stepId": "1", "stepType": "Document"},
}
"""A realistic wire body (without ``eventId``) for each event model, after IDWise's examples."""

_MODELS_BY_NAME: dict[str, type[KnownEvent]] = {
    model.event_type.value: model for model in SAMPLE_BODIES
}


def _squashed(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_SQUASHED_NAME = {_squashed(name): model for name, model in _MODELS_BY_NAME.items()}
_BY_SQUASHED_NAME.update({_squashed(model.__name__): model for model in SAMPLE_BODIES})
_BY_SQUASHED_NAME[_squashed(MISSPELT_AML_MONITOR_UPDATE)] = _MODELS_BY_NAME["AML Monitor Update"]


def event_model(name: str) -> type[KnownEvent] | None:
    """The model for an event type written any reasonable way (a command's argument), or ``None``.

    ``"Finished Journey"``, ``FinishedJourney``, ``finished-journey`` and ``finished_journey`` are
    one type: case, spaces, dashes and underscores are ignored.
    """
    return _BY_SQUASHED_NAME.get(_squashed(name))


def known_types(given: str | None = None) -> str:
    """The event type names, for error messages; first the one ``given`` was likely meant as."""
    known = ", ".join(_MODELS_BY_NAME)
    if given is None:
        return known
    import difflib  # only for a name that is not an event type

    close = difflib.get_close_matches(_squashed(given), list(_BY_SQUASHED_NAME), n=1, cutoff=0.8)
    if not close:
        return known
    return f"did you mean {_BY_SQUASHED_NAME[close[0]].event_type.value!r}? {known}"


def resolve_event_type(event_type: EventTypeName, *, caller: str) -> tuple[type[KnownEvent], str]:
    """The model of ``event_type``, and the ``event`` string to send for it.

    A name `parse_event` accepts goes on the wire as written (so the misspelt AML name stays
    misspelt, as IDWise sends it); one it would not (``finished-journey``, as the send commands
    take it), a model or an `EventType` member gives the documented wire name.

    Raises:
        ValueError: If ``event_type`` is a name no IDWise webhook has (``caller`` says who asks).
        TypeError: If it is neither a known event model nor a string.
    """
    if isinstance(event_type, str):  # an EventType member too
        wire_name = str(event_type)  # an EventType member hashes by its name, not its value
        canonical = known_event_name(wire_name)
        if canonical is not None:
            return _MODELS_BY_NAME[canonical], wire_name
        model = event_model(wire_name)
        if model is None:
            known = known_types(wire_name)
            raise ValueError(f"{caller}: {wire_name!r} is not an IDWise event name ({known})")
        return model, model.event_type.value
    if isinstance(event_type, type) and event_type in SAMPLE_BODIES:
        model = cast("type[KnownEvent]", event_type)
        return model, model.event_type.value
    raise TypeError(
        f"{caller} takes an event model, an EventType or an event name, not {event_type!r}"
    )


def body_aliases(model: type[KnownEvent]) -> dict[str, str]:
    """The body's wire name for each attribute name (``system_decision`` -> ``systemDecision``)."""
    body = cast("type[BaseModel]", model.model_fields["body"].annotation)
    return {
        name: info.serialization_alias or info.alias or name
        for name, info in body.model_fields.items()
    }


def sample_envelope(
    model: type[KnownEvent], wire_name: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """The sample envelope of ``model``, a fresh ``eventId``, ``fields`` applied; not validated.

    ``fields`` by attribute or wire name; unknown names become extra fields; ``None`` removes one.
    """
    aliases = body_aliases(model)
    body: dict[str, Any] = {"eventId": str(uuid.uuid4()), **SAMPLE_BODIES[model]}
    for name, value in fields.items():
        key = aliases.get(name, name)
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return {"event": wire_name, "body": body}
