"""Testing handlers behind an inbox: the answer, then the worker's run, retries and replay."""

from __future__ import annotations

from datetime import timedelta

from idwise_events import (
    BearerAuth,
    DeliveryState,
    Dispatcher,
    FinishedJourney,
    MemoryInbox,
    ProcessOutcome,
    RetryPolicy,
    process,
)
from idwise_events.testing import FakeClock, build_request, make_event

VERIFIER = BearerAuth("test-token")  # made up: never the production secret
RETRIES = RetryPolicy(max_attempts=2, first_delay=timedelta(seconds=10))


def test_the_answer_comes_first_and_the_worker_runs_the_handler() -> None:
    seen: list[str] = []
    inbox = MemoryInbox()  # what SqlInbox does, in memory: one test, one process
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    dispatcher.on(FinishedJourney)(lambda event: seen.append(event.body.journey_id))

    response = dispatcher.handle(
        build_request(make_event(FinishedJourney, journey_id="j-1"), VERIFIER)
    )
    [delivery] = inbox.deliveries()

    assert (response.status, seen) == (200, [])  # acknowledged; nothing has run yet
    assert process(dispatcher, delivery.id) is ProcessOutcome.DONE  # what a worker's job does
    assert seen == ["j-1"]


def test_a_failing_handler_is_retried_then_dead_then_replayed() -> None:
    clock = FakeClock()
    inbox = MemoryInbox(clock=clock)
    dispatcher = Dispatcher(verifier=VERIFIER, inbox=inbox)
    crm_up = False

    @dispatcher.on(FinishedJourney)
    def push_to_crm(event: FinishedJourney) -> None:
        if not crm_up:
            raise ConnectionError("the CRM is down")

    dispatcher.handle(build_request(make_event(FinishedJourney), VERIFIER))
    [delivery] = inbox.deliveries()

    assert process(dispatcher, delivery.id, retries=RETRIES, clock=clock) is ProcessOutcome.RETRIED
    clock.advance(timedelta(seconds=10))  # the first retry is due within first_delay
    assert process(dispatcher, delivery.id, retries=RETRIES, clock=clock) is ProcessOutcome.DEAD
    dead = inbox.get(delivery.id)
    assert dead is not None
    assert (dead.state, dead.last_error) == (DeliveryState.DEAD, "ConnectionError: the CRM is down")

    crm_up = True  # the cause fixed, the dead letter is replayed
    assert inbox.replay(delivery.id)
    assert process(dispatcher, delivery.id, retries=RETRIES, clock=clock) is ProcessOutcome.DONE
