"""Testing handlers through the dispatcher with build_request: no server, no IDWise."""

from __future__ import annotations

from idwise_events import BearerAuth, Dispatcher, FinishedJourney
from idwise_events.testing import build_request, make_event

VERIFIER = BearerAuth("test-token")  # made up: never the production secret


def make_dispatcher(seen: list[str]) -> Dispatcher:
    """Your app's dispatcher, with its handlers (here, one that records what it saw)."""
    dispatcher = Dispatcher(verifier=VERIFIER)
    dispatcher.on(FinishedJourney)(lambda event: seen.append(event.body.journey_id))
    return dispatcher


def test_a_retried_event_is_processed_once() -> None:
    seen: list[str] = []
    dispatcher = make_dispatcher(seen)
    request = build_request(make_event(FinishedJourney, journey_id="j-1"), VERIFIER)

    first, retry = dispatcher.handle(request), dispatcher.handle(request)

    assert (first.status, retry.status) == (200, 200)
    assert seen == ["j-1"]


def test_a_guessed_token_is_refused() -> None:
    seen: list[str] = []
    request = build_request(make_event(FinishedJourney), BearerAuth("guessed"))

    assert make_dispatcher(seen).handle(request).status == 401
    assert seen == []
