"""The body models: the typed fields inside each IDWise webhook envelope.

Tolerant on purpose, because IDWise says its payloads grow: unknown keys are kept
(``body.model_extra``) and written back out, enum-like fields are open, IDs are opaque strings,
and every field the specification marks optional may be missing or ``null``. Attributes are
snake_case; the camelCase wire names are their aliases (both work when building a model in
Python; parsing the wire format uses the wire names only).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
)
from pydantic.alias_generators import to_camel
from pydantic.annotated_handlers import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from ._enums import (
    FinalDecision,
    ManualDecision,
    StepType,
    SystemDecision,
    UpdatedJourneyAction,
    UpdateTrigger,
)
from ._field_docs import document_fields
from ._frozen import FrozenDict, FrozenList, freeze

__all__ = [
    "AmlMonitorUpdateBody",
    "FinishedJourneyBody",
    "FinishedOngoingCheckBody",
    "FinishedSpotCheckBody",
    "FinishedStepBody",
    "FinishedUserStepsBody",
    "KycRenewalDeadlineExceededBody",
    "ManuallyReviewedBody",
    "OverdueStep",
    "RequiredStep",
    "StepSubmittedBody",
    "UpdatedJourneyBody",
    "VerificationUpdateRequiredBody",
]


class _NumbersAsText:
    """A text field that also takes a finite JSON number, as its decimal text.

    IDs are opaque strings, but a numeric stepId or eventId is kept as its text. pydantic's own
    ``coerce_numbers_to_str`` would also keep ``NaN`` and ``Infinity``, which are not JSON but
    which pydantic-core reads as numbers, as the text ``"NaN"``: an eventId every such event would
    share. Strings take the first branch, inside pydantic-core, as a plain ``str`` would.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        as_text = core_schema.str_schema(coerce_numbers_to_str=True)
        finite = core_schema.float_schema(strict=True, allow_inf_nan=False)
        return core_schema.union_schema(
            [  # labelled: an error's location then reads "union[str,int,float]"
                (core_schema.str_schema(strict=True), "str"),
                (core_schema.chain_schema([core_schema.int_schema(strict=True), as_text]), "int"),
                (core_schema.chain_schema([finite, as_text]), "float"),
            ],
            mode="left_to_right",
            custom_error_type="text_type",
            custom_error_message="Input should be a string or a finite number",
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(core_schema.str_schema())


_Text = Annotated[str, _NumbersAsText()]
"""The type of every text field of the bodies: ``str``, or a finite number as its text."""


# The configuration goes in class arguments rather than `model_config`: type checkers then see
# `frozen` (mypy's pydantic plugin, pyright through dataclass_transform) and reject assigning to a
# field, and the inherited `model_config` keeps its declared type for users' checkers. Every
# model repeats `frozen=True`: pyright reads it per class, not from the base.
class WireModel(
    BaseModel,
    alias_generator=to_camel,
    validate_by_alias=True,
    validate_by_name=True,
    extra="allow",
    frozen=True,
    # Built on first use, not at import: `import idwise_events` stays cheap (Lambda cold starts).
    defer_build=True,
    # Schema titles from the Python name ("Journey id"), not the squashed alias ("Journeyid").
    field_title_generator=lambda name, _info: name.replace("_", " ").capitalize(),
    # Payloads carry personal data: a logged ValidationError names fields, never their values.
    hide_input_in_errors=True,
):
    """Shared configuration: camelCase wire aliases, unknown keys kept, immutable."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # Each field's docstring becomes its description (the schema is built later).
        document_fields(cls)

    @property
    def model_extra(self) -> dict[str, Any] | None:
        """The unknown fields, by wire name, as sent; read-only, like the rest of the event.

        A `FrozenDict` of values whose objects and arrays are frozen too: changing any of them
        raises ``TypeError`` (``dict(...)`` or ``copy.deepcopy`` gives a copy to change).
        """
        return _frozen_extra(self)

    if not TYPE_CHECKING:  # as in pydantic: type checkers keep refusing unknown attributes

        def __getattr__(self, name: str) -> Any:
            extra = _frozen_extra(self)
            if extra and name in extra:  # an unknown field read as an attribute
                return extra[name]
            return super().__getattr__(name)

    def __iter__(self) -> Generator[tuple[str, Any], None, None]:
        _frozen_extra(self)  # `dict(model)` lists the unknown fields too
        yield from super().__iter__()


def _frozen_extra(model: BaseModel) -> dict[str, Any] | None:
    """``model``'s unknown fields, frozen (in place) the first time they are read.

    Not at parse: freezing them costs as much as parsing them, which most handlers never need.
    pydantic's own copies, comparisons and serialisation read them as they are, frozen or not.
    """
    try:
        extra: dict[str, Any] | None = object.__getattribute__(model, "__pydantic_extra__")
    except AttributeError:  # not set yet: a model being copied or unpickled
        return None
    if extra is not None and type(extra) is not FrozenDict:
        extra = freeze(extra)
        object.__setattr__(model, "__pydantic_extra__", extra)
    return extra


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PydanticCustomError("timezone_aware", "Input should have timezone info")
    return moment


def _not_a_number(value: Any) -> Any:
    """Let only a time's text, not a number, become a datetime (pydantic reads Unix seconds).

    ``20250915``, or ``"20250915"``, would be read as seconds since 1970, a wrong deadline:
    a deadline that is a number, or a number's text, is kept as the text it was sent as.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    raise PydanticCustomError("datetime_text", "Input should be an ISO 8601 time")


def _not_a_bool(value: Any) -> Any:
    """Refuse ``true`` and ``false`` where a number is expected (pydantic reads them as 1 and 0)."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


_Count = Annotated[int, BeforeValidator(_not_a_bool)]
"""An integer, or its text (``"3"``), never a boolean."""

# pydantic's AwareDatetime, but from a time's text only.
_AwareDatetime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_aware)]
"""A time with a zone, from its text (a naive one or a number fails: a deadline keeps the text)."""

# Open enums: `union_mode="left_to_right"` tries the enum first so documented values become
# members, then keeps any other string. (Pydantic's default "smart" union would prefer the exact
# `str` match and never build a member.) Deadlines likewise: an aware datetime, else the string.
_OpenSystemDecision = Annotated[SystemDecision | _Text, Field(union_mode="left_to_right")]
_OpenManualDecision = Annotated[ManualDecision | _Text, Field(union_mode="left_to_right")]
_OpenFinalDecision = Annotated[FinalDecision | _Text, Field(union_mode="left_to_right")]
_OpenStepType = Annotated[StepType | _Text, Field(union_mode="left_to_right")]
_OpenAction = Annotated[UpdatedJourneyAction | _Text, Field(union_mode="left_to_right")]
_OpenTrigger = Annotated[UpdateTrigger | _Text, Field(union_mode="left_to_right")]
_Deadline = Annotated[_AwareDatetime | _Text, Field(union_mode="left_to_right")]

_Step = TypeVar("_Step", bound=BaseModel)
_Steps = Annotated[list[_Step], Field(fail_fast=True), AfterValidator(FrozenList)]
"""A body's list of steps: read-only, like the rest of the event (a `FrozenList`).

It stops at its first invalid item (``fail_fast``): a hostile body of a million invalid items
would otherwise cost seconds of CPU to build a million errors that nobody reads.
"""


class EventBody(WireModel, frozen=True):
    """What every body has: the event's id and your reference (the base of the body models)."""

    event_id: _Text | None = None
    """Unique per event and identical across IDWise's retries of it; absent in legacy payloads."""
    reference_no: _Text | None = None
    """Your own reference for the user, as passed when the journey was started (may be null)."""


class _JourneyBody(EventBody, frozen=True):
    journey_id: _Text
    """The IDWise journey this event is about; use it to fetch the journey result."""


class _DecisionBody(_JourneyBody, frozen=True):
    system_decision: _OpenSystemDecision
    """IDWise's automated decision."""
    manual_decision: _OpenManualDecision | None = None
    """The reviewer's decision; ``None`` when nobody reviewed the journey (or it was not sent)."""
    final_decision: _OpenFinalDecision | None = None
    """The decision that counts: the manual one if a review happened, else the system one."""


class RequiredStep(WireModel, frozen=True):
    """A step the user has to submit again (in `VerificationUpdateRequired`)."""

    step_id: _Text
    """The journey step to resubmit, e.g. ``"20"``."""
    reason_code: _Text | None = None
    """Why: for reviewer requests the admin-defined reason key (e.g. ``RESUBMIT_BAD_QUALITY``)."""
    renewal_deadline: _Deadline | None = None
    """When the resubmission is due, if IDWise sends it (KYC renewals)."""


class OverdueStep(WireModel, frozen=True):
    """A step whose KYC-renewal deadline passed (in `KycRenewalDeadlineExceeded`)."""

    step_id: _Text
    """The journey step that was not resubmitted in time."""
    renewal_deadline: _Deadline
    """The deadline that passed (ISO-8601 UTC on the wire)."""


class FinishedJourneyBody(_DecisionBody, frozen=True):
    """Body of `FinishedJourney`. Legacy payloads carry no ``eventId`` but always the decisions."""


class ManuallyReviewedBody(_JourneyBody, frozen=True):
    """Body of `ManuallyReviewed`."""

    system_decision: _OpenSystemDecision
    """The automated decision the reviewer saw."""
    # Required, but ``null`` is kept rather than refused: IDWise documents the decisions as
    # nullable on every journey event, and a refused event is lost after its retries.
    manual_decision: _OpenManualDecision | None = Field()
    """The reviewer's decision (``None`` only if IDWise sent ``null``)."""
    final_decision: _OpenFinalDecision | None = Field()
    """The decision that counts: the manual one (``None`` only if IDWise sent ``null``)."""


class AmlMonitorUpdateBody(_DecisionBody, frozen=True):
    """Body of `AmlMonitorUpdate`."""

    system_decision: _OpenSystemDecision
    """The automated decision after the AML change."""
    previous_system_decision: _OpenSystemDecision
    """The automated decision before the AML change."""
    # Not `alias=`: type checkers would then want the wire name as the keyword. IDWise's
    # spelling, and the one its other fields' camelCase would give.
    updated_aml_version_number: _Count = Field(
        validation_alias=AliasChoices("updatedAMLVersionNumber", "updatedAmlVersionNumber"),
        serialization_alias="updatedAMLVersionNumber",
    )
    """The applicant's AML record version: starts at 1 and grows by 1 per monitoring update.

    Pass it to IDWise's Get AML History API to fetch what changed.
    """


class FinishedUserStepsBody(_DecisionBody, frozen=True):
    """Body of `FinishedUserSteps`."""

    system_decision: _OpenSystemDecision
    """A snapshot of the automated decision, often ``Incomplete``: processing may go on."""


class FinishedStepBody(_JourneyBody, frozen=True):
    """Body of `FinishedStep`. IDWise has not published it, so every step field is optional."""

    step_id: _Text | None = None
    """The step that was processed, e.g. ``"20"`` (a number on the wire is kept as its text)."""
    step_type: _OpenStepType | None = None
    """The kind of step, when sent."""
    system_decision: _OpenSystemDecision | None = None
    """The automated decision at that point, when sent."""


class UpdatedJourneyBody(_DecisionBody, frozen=True):
    """Body of `UpdatedJourney`. Action-specific extra fields land in ``model_extra``."""

    # Required here, but ``null`` is kept (see ManuallyReviewedBody); `Field()` because the base
    # has a default, which checkers want an override to have too (pydantic's fields are
    # keyword-only, so a required one may follow).
    final_decision: _OpenFinalDecision | None = Field()
    """The decision that counts after the update (``None`` only if IDWise sent ``null``)."""
    action: _OpenAction
    """What caused the update (the list IDWise documents is partial, hence open)."""


class VerificationUpdateRequiredBody(_DecisionBody, frozen=True):
    """Body of `VerificationUpdateRequired`."""

    final_decision: _OpenFinalDecision | None = (
        Field()
    )  # required, may be null: see UpdatedJourneyBody
    """The decision that counts, before the resubmission (``None`` only if IDWise sent ``null``)."""
    trigger: _OpenTrigger
    """Why the update is needed: ``KYC Renewal`` or a reviewer's request."""
    required_steps: _Steps[RequiredStep]
    """The steps the user must submit again."""


class KycRenewalDeadlineExceededBody(_JourneyBody, frozen=True):
    """Body of `KycRenewalDeadlineExceeded`. IDWise sends no decision fields here."""

    required_steps: _Steps[OverdueStep]
    """The steps that were not resubmitted before their deadline."""


class FinishedSpotCheckBody(EventBody, frozen=True):
    """Body of `FinishedSpotCheck`. It names the spot-check journey, not the onboarding one."""

    system_decision: _OpenSystemDecision
    """The automated decision of the spot check."""
    spot_check_journey_id: _Text
    """The spot-check journey; fetch its result with IDWise's Get Spot Check Result API."""
    journey_id: _Text | None = None
    """Not sent by IDWise today; kept optional in case it appears."""


class FinishedOngoingCheckBody(_JourneyBody, frozen=True):
    """Body of `FinishedOngoingCheck` (legacy)."""

    system_decision: _OpenSystemDecision
    """The automated decision of the ongoing check."""
    ongoing_check_id: _Text
    """The ongoing check; ``journey_id`` is the onboarding journey used at enrolment."""


class StepSubmittedBody(_JourneyBody, frozen=True):
    """Body of `StepSubmitted` (legacy: no ``eventId``)."""

    step_id: _Text
    """The step that was submitted, e.g. ``"1"``."""
    step_type: _OpenStepType
    """The kind of step: ``Document`` or ``Selfie``."""
