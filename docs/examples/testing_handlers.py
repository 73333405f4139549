"""Testing a handler with make_event and the hypothesis strategies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from idwise_events import BearerAuth, Dispatcher, FinishedJourney, SystemDecision
from idwise_events.testing import build_request, make_event
from idwise_events.testing.strategies import events

VERIFIER = BearerAuth("test-token")  # made up: never the production secret


def needs_review(event: FinishedJourney) -> bool:
    """The code under test: does this journey need a human to look at it?"""
    return event.body.system_decision is not SystemDecision.COMPLETE


def make_dispatcher(review_queue: list[str]) -> Dispatcher:
    """The app's dispatcher: its handler queues the journeys that need a human."""
    dispatcher = Dispatcher(verifier=VERIFIER)

    @dispatcher.on(FinishedJourney)
    def queue_for_review(event: FinishedJourney) -> None:
        if needs_review(event):
            review_queue.append(event.body.journey_id)

    return dispatcher


def test_a_referred_journey_needs_review() -> None:
    event = make_event(FinishedJourney, system_decision="Refer")
    assert needs_review(event)


def test_a_complete_journey_does_not() -> None:
    assert not needs_review(make_event(FinishedJourney))


@given(events(FinishedJourney))
def test_any_finished_journey_is_handled(event: FinishedJourney) -> None:
    # Extra fields, unknown decision strings, legacy payloads: none of them may crash it.
    assert needs_review(event) == (event.body.system_decision != "Complete")


@given(events(FinishedJourney), st.integers(min_value=1, max_value=4))
def test_however_often_idwise_retries_a_journey_is_queued_at_most_once(
    event: FinishedJourney, deliveries: int
) -> None:
    queue: list[str] = []
    dispatcher = make_dispatcher(queue)
    request = build_request(event, VERIFIER)

    statuses = [dispatcher.handle(request).status for _ in range(deliveries)]

    assert statuses == [200] * deliveries  # the first processed, the retries duplicates
    assert queue == ([event.body.journey_id] if needs_review(event) else [])
