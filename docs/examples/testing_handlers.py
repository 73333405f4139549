"""Testing a handler with make_event and the hypothesis strategies."""

from __future__ import annotations

from hypothesis import given

from idwise_events import FinishedJourney, SystemDecision
from idwise_events.testing import make_event
from idwise_events.testing.strategies import events


def needs_review(event: FinishedJourney) -> bool:
    """The code under test: does this journey need a human to look at it?"""
    return event.body.system_decision is not SystemDecision.COMPLETE


def test_a_referred_journey_needs_review() -> None:
    event = make_event(FinishedJourney, system_decision="Refer")
    assert needs_review(event)


def test_a_complete_journey_does_not() -> None:
    assert not needs_review(make_event(FinishedJourney))


@given(events(FinishedJourney))
def test_any_finished_journey_is_handled(event: FinishedJourney) -> None:
    # Extra fields, unknown decision strings, legacy payloads: none of them may crash it.
    assert needs_review(event) == (event.body.system_decision != "Complete")
