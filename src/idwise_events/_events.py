"""The event models, one per IDWise webhook type, and the `Event` union of them all.

Each webhook is an envelope ``{"event": "<name>", "body": {...}}``. Every event type has one
model named after its wire name (``"Finished Journey"`` -> `FinishedJourney`) whose ``body`` is
the matching model from ``_bodies``. Names this version does not know parse to `UnknownEvent`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    JsonValue,
    Tag,
)
from pydantic.annotated_handlers import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from ._bodies import (
    AmlMonitorUpdateBody,
    EventBody,
    FinishedJourneyBody,
    FinishedOngoingCheckBody,
    FinishedSpotCheckBody,
    FinishedStepBody,
    FinishedUserStepsBody,
    KycRenewalDeadlineExceededBody,
    ManuallyReviewedBody,
    StepSubmittedBody,
    UpdatedJourneyBody,
    VerificationUpdateRequiredBody,
    WireModel,
)
from ._enums import MISSPELT_AML_MONITOR_UPDATE, EventType
from ._frozen import freeze

__all__ = [
    "AmlMonitorUpdate",
    "Event",
    "FinishedJourney",
    "FinishedOngoingCheck",
    "FinishedSpotCheck",
    "FinishedStep",
    "FinishedUserSteps",
    "KnownEvent",
    "KycRenewalDeadlineExceeded",
    "ManuallyReviewed",
    "StepSubmitted",
    "UnknownEvent",
    "UpdatedJourney",
    "VerificationUpdateRequired",
]

_UNKNOWN_TAG = "<unknown>"


def _folded(name: str) -> str:
    """``name`` without whitespace or case: how two spellings of one event name compare."""
    return "".join(name.split()).casefold()


# `Event`'s tags are the canonical names; the misspelt AML name selects the same model. A name is
# looked up exactly first; one that differs from a known name only in case or spacing (IDWise's
# v2.0 docs write "Finished spot Check") is the fallback, as the specification recommends.
_TAG_BY_NAME: dict[str, str] = {name.value: name.value for name in EventType}
_TAG_BY_NAME[MISSPELT_AML_MONITOR_UPDATE] = EventType.AML_MONITOR_UPDATE.value
_TAG_BY_FOLDED_NAME = {_folded(name): tag for name, tag in _TAG_BY_NAME.items()}
_KNOWN_NAMES: list[JsonValue] = [name for name in sorted(_TAG_BY_NAME)]


def known_event_name(name: str) -> str | None:
    """The canonical name of the known event ``name`` denotes, ignoring case and spacing.

    ``None`` when ``name`` is no spelling of a known event name.
    """
    return _TAG_BY_NAME.get(name) or _TAG_BY_FOLDED_NAME.get(_folded(name))


def wire_names(name: str) -> list[str]:
    """Every documented name of the known event ``name`` (its canonical name) as IDWise sends it."""
    return [wire for wire, tag in _TAG_BY_NAME.items() if tag == name]


class _AnySpelling:
    """Lets an event model's ``event`` field take its name in any case and spacing.

    It holds the documented name so written (``"Finished spot Check"`` becomes ``"Finished Spot
    Check"``), so that the field's ``Literal`` type says what it holds. The exact name stays a
    ``Literal`` check inside pydantic-core; only another spelling calls back into Python. The
    JSON Schema shows the exact names only.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        names: tuple[str, ...] = get_args(source)
        documented = {_folded(name): name for name in names}
        expected = " or ".join(repr(name) for name in names)

        def same_name(value: str) -> str:
            name = documented.get(_folded(value))
            if name is None:  # the union's own error is the one shown
                raise PydanticCustomError("literal_error", "another event name")
            return name

        return core_schema.union_schema(
            [
                handler(source),
                core_schema.no_info_after_validator_function(
                    same_name, core_schema.str_schema(strict=True)
                ),
            ],
            mode="left_to_right",
            # Fails as the plain Literal would: "Input should be 'Finished Journey'".
            custom_error_type="literal_error",
            custom_error_context={"expected": expected},
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        assert schema["type"] == "union"  # noqa: S101 -- built just above
        exact = schema["choices"][0]
        return handler(exact[0] if isinstance(exact, tuple) else exact)


# Every event model has these two fields, narrowed to its own name and body: one description each.
_Name = TypeVar("_Name")
_WireName = Annotated[_Name, _AnySpelling(), Field(description="The wire name of the event.")]
"""An event model's ``event``: its ``Literal`` name(s), also accepted in other case or spacing."""
_PAYLOAD = Field(description="The event's payload.")
"""An event model's ``body``: ``Annotated[ItsBody, _PAYLOAD]`` (spelt out, rather than a generic
alias, so that type checkers name the body's own class in their messages)."""


def _digest_key(envelope: BaseModel) -> str:
    """Hash the canonical JSON of an envelope: sorted keys, no whitespace, nulls left out.

    Built from the parsed model rather than the raw bytes, so neither key order, whitespace, nor a
    missing versus ``null`` optional field changes it; leaving nulls out also keeps keys stable
    when a later version of this library adds an optional field.
    """
    data = envelope.model_dump(mode="json", by_alias=True, exclude_none=True)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


class EventModel(WireModel, frozen=True):
    """What every known event model has: its wire name, a typed body, an id and a key."""

    event_type: ClassVar[EventType]
    """The webhook type this model parses, e.g. ``FinishedJourney.event_type``."""
    event: str
    body: EventBody

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # The first value of the `event` Literal is the canonical name.
        cls.event_type = EventType(get_args(cls.model_fields["event"].annotation)[0])

    @property
    def event_id(self) -> str | None:
        """The ``eventId`` IDWise sent (stable across retries), or ``None`` for legacy payloads."""
        return self.body.event_id

    @property
    def idempotency_key(self) -> str:
        """The key that identifies this event across retries.

        The ``eventId`` when IDWise sent a non-empty one; otherwise ``"sha256:"`` and the hex
        digest of the envelope's canonical JSON, so a legacy payload retried with other key order
        or whitespace gets the same key, and any changed value gives a different one.
        """
        return self.event_id if self.event_id else _digest_key(self)


class FinishedJourney(EventModel, frozen=True):
    """A journey was fully processed and its result can be fetched.

    Also sent again after a journey is re-processed (KYC-renewal resubmission) and after a manual
    review, each time with a new ``eventId``: one journey may finish more than once.
    """

    event: _WireName[Literal["Finished Journey"]]
    body: Annotated[FinishedJourneyBody, _PAYLOAD]


class ManuallyReviewed(EventModel, frozen=True):
    """A reviewer confirmed or overrode the system decision in the IDWise dashboard.

    IDWise now recommends `UpdatedJourney` (action ``Manual Review``) for review outcomes; a
    review may produce both events and another `FinishedJourney`.
    """

    event: _WireName[Literal["Manually Reviewed"]]
    body: Annotated[ManuallyReviewedBody, _PAYLOAD]


class AmlMonitorUpdate(EventModel, frozen=True):
    """Ongoing AML monitoring changed a monitored record (new or removed match, risk detail).

    Also parsed from ``"AML Monior Update"``, a misspelling in IDWise's documentation; ``event``
    keeps the string that was sent. Order updates by ``updated_aml_version_number``, not arrival.
    """

    event: Annotated[
        _WireName[Literal["AML Monitor Update", "AML Monior Update"]],
        Field(description="The wire name of the event (the misspelt variant is kept as sent)."),
    ]
    body: Annotated[AmlMonitorUpdateBody, _PAYLOAD]


class FinishedUserSteps(EventModel, frozen=True):
    """The user submitted every required step; IDWise may still be processing.

    Always sent before `FinishedJourney`: the moment to start your own custom checks.
    """

    event: _WireName[Literal["Finished User Steps"]]
    body: Annotated[FinishedUserStepsBody, _PAYLOAD]


class FinishedStep(EventModel, frozen=True):
    """IDWise finished processing one step (once per side of a two-sided document)."""

    event: _WireName[Literal["Finished Step"]]
    body: Annotated[FinishedStepBody, _PAYLOAD]


class UpdatedJourney(EventModel, frozen=True):
    """A completed journey changed: its system decision, an AML amendment, a manual review..."""

    event: _WireName[Literal["Updated Journey"]]
    body: Annotated[UpdatedJourneyBody, _PAYLOAD]


class VerificationUpdateRequired(EventModel, frozen=True):
    """The user must resubmit steps: a reviewer asked for it or a KYC renewal is due."""

    event: _WireName[Literal["Verification Update Required"]]
    body: Annotated[VerificationUpdateRequiredBody, _PAYLOAD]


class KycRenewalDeadlineExceeded(EventModel, frozen=True):
    """A KYC-renewal deadline passed without the required steps being resubmitted."""

    event: _WireName[Literal["KYC Renewal Deadline Exceeded"]]
    body: Annotated[KycRenewalDeadlineExceededBody, _PAYLOAD]


class FinishedSpotCheck(EventModel, frozen=True):
    """A selfie spot check (re-authentication of a known user) finished processing."""

    event: _WireName[Literal["Finished Spot Check"]]
    body: Annotated[FinishedSpotCheckBody, _PAYLOAD]


class FinishedOngoingCheck(EventModel, frozen=True):
    """Legacy name and shape of `FinishedSpotCheck`, still sent to old configurations."""

    event: _WireName[Literal["Finished Ongoing Check"]]
    body: Annotated[FinishedOngoingCheckBody, _PAYLOAD]


class StepSubmitted(EventModel, frozen=True):
    """Legacy: the user submitted a step. Superseded by `FinishedStep`."""

    event: _WireName[Literal["Step Submitted"]]
    body: Annotated[StepSubmittedBody, _PAYLOAD]


class UnknownEvent(WireModel, frozen=True):
    """An envelope whose ``event`` this version of the library does not know.

    Not an error: IDWise adds webhook types, and its portal's test request has no documented body.
    The body is kept as the decoded JSON object, untouched.
    """

    event: str = Field(strict=True, json_schema_extra={"not": {"enum": _KNOWN_NAMES}})
    """The event name as sent (never one of the known names)."""
    # Read-only like the rest of the event (a FrozenDict, see _frozen), frozen when parsed: this is
    # the fallback path, and the body is all there is to read.
    body: Annotated[dict[str, Any], AfterValidator(freeze)]
    """The decoded body object, as sent."""

    @property
    def event_id(self) -> str | None:
        """``body["eventId"]`` when it is a string, or a number's text as for a known event."""
        event_id = self.body.get("eventId")
        if isinstance(event_id, str):
            return event_id
        if isinstance(event_id, int | float) and not isinstance(event_id, bool):
            return str(event_id)  # a JSON number is finite: NaN and Infinity are refused
        return None

    @property
    def idempotency_key(self) -> str:
        """The ``eventId`` when present and non-empty, else the canonical-JSON digest."""
        return self.event_id if self.event_id else _digest_key(self)


class _ExactName:
    """`KnownEvent`'s discriminator: the exact ``event`` string picks the model, in pydantic-core.

    ``Field(discriminator="event")`` would read the names from each model's ``event`` field, but
    those fields also take other spellings (`_AnySpelling`), which it cannot read.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        choices: dict[Hashable, CoreSchema] = {}
        for model in get_args(source):
            schema = handler(model)
            for name in get_args(model.model_fields["event"].annotation):
                choices[name] = schema
        return core_schema.tagged_union_schema(choices, discriminator="event")


KnownEvent = Annotated[
    Union[  # noqa: UP007 -- `X | Y` on these classes would work, but Union reads better at this length
        FinishedJourney,
        ManuallyReviewed,
        AmlMonitorUpdate,
        FinishedUserSteps,
        FinishedStep,
        UpdatedJourney,
        VerificationUpdateRequired,
        KycRenewalDeadlineExceeded,
        FinishedSpotCheck,
        FinishedOngoingCheck,
        StepSubmitted,
    ],
    _ExactName(),
]
"""Every webhook type this version knows, discriminated on ``event`` (no unknown fallback).

Names are matched exactly here; [`parse_event`][idwise_events.parse_event] and `Event` also
take a known name in other case or spacing.
"""


def _event_tag(value: Any) -> str | None:
    """Pick the union member for `Event`: the known model, or `UnknownEvent` for other names."""
    name = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
    if not isinstance(name, str):
        return None
    return known_event_name(name) or _UNKNOWN_TAG


Event = Annotated[
    Union[  # noqa: UP007 -- see KnownEvent
        Annotated[FinishedJourney, Tag("Finished Journey")],
        Annotated[ManuallyReviewed, Tag("Manually Reviewed")],
        Annotated[AmlMonitorUpdate, Tag("AML Monitor Update")],
        Annotated[FinishedUserSteps, Tag("Finished User Steps")],
        Annotated[FinishedStep, Tag("Finished Step")],
        Annotated[UpdatedJourney, Tag("Updated Journey")],
        Annotated[VerificationUpdateRequired, Tag("Verification Update Required")],
        Annotated[KycRenewalDeadlineExceeded, Tag("KYC Renewal Deadline Exceeded")],
        Annotated[FinishedSpotCheck, Tag("Finished Spot Check")],
        Annotated[FinishedOngoingCheck, Tag("Finished Ongoing Check")],
        Annotated[StepSubmitted, Tag("Step Submitted")],
        Annotated[UnknownEvent, Tag(_UNKNOWN_TAG)],
    ],
    Discriminator(
        _event_tag,
        custom_error_type="invalid_envelope",
        custom_error_message="Input should be an object with a string 'event' field",
    ),
]
"""Any IDWise webhook: one of the known event models, or `UnknownEvent` for other names.

Use it as a type annotation, in a pydantic ``TypeAdapter`` or in a FastAPI signature;
[`parse_event`][idwise_events.parse_event] is the fast way to get one from raw bytes.
"""
