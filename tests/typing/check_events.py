"""What type checkers see when users read events and claim results: checked by mypy and pyright.

Not run by pytest. A line that must be a type error carries an ignore comment for each checker;
both are told to report an ignore that is not needed, so if the error went away, CI would fail.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import assert_never, assert_type

from idwise_events import (
    AmlMonitorUpdate,
    Claimed,
    ClaimResult,
    Completed,
    Event,
    FinishedJourney,
    FinishedJourneyBody,
    InProgress,
    ManuallyReviewed,
    SystemDecision,
    UnknownEvent,
    parse_event,
)


def by_isinstance(event: Event) -> str:
    """`isinstance` narrows the union to one model, and its body to that model's body."""
    if isinstance(event, FinishedJourney):
        assert_type(event.body, FinishedJourneyBody)
        return event.body.journey_id
    if isinstance(event, UnknownEvent):
        assert_type(event.event, str)
        return event.event
    return event.event


def by_match(event: Event) -> str | None:
    """`match` with class patterns narrows the same way."""
    match event:
        case FinishedJourney(body=body):
            return body.journey_id
        case ManuallyReviewed() | AmlMonitorUpdate():
            return event.body.reference_no
        case _:
            return None


def by_literal(event: FinishedJourney | ManuallyReviewed) -> None:
    """A model's `event` is its wire name as a Literal, which narrows the union too."""
    if event.event == "Finished Journey":
        assert_type(event, FinishedJourney)
    else:
        assert_type(event, ManuallyReviewed)


def open_enums(event: FinishedJourney) -> bool:
    """An open enum field is the member or the string sent, and compares with plain strings."""
    decision = event.body.system_decision
    return decision == SystemDecision.COMPLETE or decision == "Complete"


def exhaustive(result: ClaimResult) -> str:
    """The three claim results are all there is: `assert_never` proves the match complete."""
    if isinstance(result, Claimed):
        return result.token
    if isinstance(result, Completed):
        return "done"
    if isinstance(result, InProgress):
        return str(result.retry_after)
    assert_never(result)


def frozen(event: FinishedJourney) -> None:
    """Events are immutable, and type checkers say so: assigning to a field is an error."""
    event.body.journey_id = "changed"  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    event.body = event.body  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]


def parsed() -> Event:
    """parse_event returns the union, as its annotation says."""
    event = parse_event(b"{}")
    assert_type(event.event, str)
    return event


def wire_name(event: FinishedJourney) -> Literal["Finished Journey"]:
    """A model's `event` is its wire name as a Literal type."""
    return event.event
