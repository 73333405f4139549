"""Event names and the open enums used in webhook bodies.

IDWise documents a few values for each enum-like field and has been seen sending others, so every
one of them is *open*: model fields are typed ``SystemDecision | str`` and so on. A documented
value becomes the enum member; any other string is kept exactly as sent. The members are ``str``
subclasses, so ``body.system_decision == "Complete"`` holds whichever of the two you hold.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "EventType",
    "FinalDecision",
    "ManualDecision",
    "StepType",
    "SystemDecision",
    "UpdateTrigger",
    "UpdatedJourneyAction",
]


class _StrEnum(str, Enum):
    """A ``str`` enum whose ``str()`` and ``format()`` give the wire value (as 3.11's StrEnum)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str(self), spec)


class EventType(_StrEnum):
    """The ``event`` strings IDWise sends, one per webhook type.

    The misspelt ``"AML Monior Update"`` that one documentation page announces is accepted by the
    parser as [`AmlMonitorUpdate`][idwise_events.AmlMonitorUpdate] but is not a member here.
    """

    FINISHED_JOURNEY = "Finished Journey"
    MANUALLY_REVIEWED = "Manually Reviewed"
    AML_MONITOR_UPDATE = "AML Monitor Update"
    FINISHED_USER_STEPS = "Finished User Steps"
    FINISHED_STEP = "Finished Step"
    UPDATED_JOURNEY = "Updated Journey"
    VERIFICATION_UPDATE_REQUIRED = "Verification Update Required"
    KYC_RENEWAL_DEADLINE_EXCEEDED = "KYC Renewal Deadline Exceeded"
    FINISHED_SPOT_CHECK = "Finished Spot Check"
    FINISHED_ONGOING_CHECK = "Finished Ongoing Check"
    STEP_SUBMITTED = "Step Submitted"


MISSPELT_AML_MONITOR_UPDATE = "AML Monior Update"
"""How one IDWise page spells "AML Monitor Update": parsed as `AmlMonitorUpdate` all the same."""


class SystemDecision(_StrEnum):
    """The automated decision IDWise reached (``systemDecision``, ``previousSystemDecision``)."""

    COMPLETE = "Complete"
    """All steps done and every configured check passed (shown as "Passed" in the dashboard)."""
    INCOMPLETE = "Incomplete"
    """The user has not finished every step yet; no decision."""
    REFER = "Refer"
    """Finished, but at least one check failed: needs a manual review."""
    REJECTED = "Rejected"
    """Seen in IDWise's client SDK results, not in the webhook docs; accepted all the same."""


class ManualDecision(_StrEnum):
    """A reviewer's decision in the IDWise dashboard (``manualDecision``; ``null`` when none)."""

    APPROVED = "Approved"
    """The reviewer approved the journey."""
    REJECTED = "Rejected"
    """The reviewer rejected the journey."""
    RESUBMISSION_REQUESTED = "Resubmission Requested"
    """The reviewer asked the user to redo steps (a value of IDWise's review API; inferred here)."""


class FinalDecision(_StrEnum):
    """The decision that counts (``finalDecision``): the manual one if any, else the system one."""

    COMPLETE = "Complete"
    """No review happened and every check passed."""
    INCOMPLETE = "Incomplete"
    """No review happened and the user has not finished."""
    REFER = "Refer"
    """No review happened yet and a check failed."""
    APPROVED = "Approved"
    """A reviewer approved the journey."""
    REJECTED = "Rejected"
    """A reviewer (or, rarely, the system) rejected the journey."""
    RESUBMISSION_REQUESTED = "Resubmission Requested"
    """A reviewer asked for steps to be redone (inferred from IDWise's review API)."""


class UpdatedJourneyAction(_StrEnum):
    """What caused an ``Updated Journey`` event (``action``); IDWise documents only some values."""

    STEP_UPDATE = "Step Update"
    """A step was resubmitted or updated after the journey completed."""
    AML_AMEND = "AML Amend"
    """Compliance amended an AML record or started a new AML search."""
    AML_OGM_UPDATE = "AML OGM Update"
    """Ongoing AML monitoring produced a change."""
    MANUAL_REVIEW = "Manual Review"
    """A compliance officer submitted a manual review decision."""


class UpdateTrigger(_StrEnum):
    """Why a ``Verification Update Required`` event was sent (``trigger``)."""

    KYC_RENEWAL = "KYC Renewal"
    """A KYC renewal is due (document expiry or a time-based interval)."""
    MANUAL_REVIEW = "Manual Review"
    """A reviewer requested a resubmission (IDWise has not confirmed this exact string)."""


class StepType(_StrEnum):
    """The kind of journey step (``stepType``)."""

    DOCUMENT = "Document"
    """An identity or supporting document (one event per side for two-sided documents)."""
    SELFIE = "Selfie"
    """A selfie / liveness capture."""
