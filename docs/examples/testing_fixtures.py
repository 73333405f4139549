"""Testing handlers with the pytest plugin's fixtures: nothing to import, nothing to set up."""

from __future__ import annotations

from idwise_events import (
    BearerAuth,
    Dispatcher,
    FinishedJourney,
    IdempotencyStore,
    MemoryStore,
    Outcome,
    fingerprint,
)
from idwise_events.testing import FakeClock, RecordingHandler, build_request, make_event
from idwise_events.testing.postgres import TemporaryPostgres

VERIFIER = BearerAuth("test-token")  # made up: never the production secret


def make_dispatcher(store: IdempotencyStore) -> Dispatcher:
    """Your app's dispatcher, on the store the test gives it."""
    return Dispatcher(verifier=VERIFIER, store=store)


def test_a_retried_event_runs_the_handler_once(
    idwise_store: MemoryStore, idwise_handler: RecordingHandler
) -> None:
    dispatcher = make_dispatcher(idwise_store)
    dispatcher.on(FinishedJourney)(idwise_handler)
    event = make_event("Finished Journey", journey_id="j-1")  # the wire name works too
    request = build_request(event, VERIFIER)

    answers = [dispatcher.handle(request) for _ in range(2)]
    assert [answer.status for answer in answers] == [200, 200]
    assert [answer.outcome for answer in answers] == [Outcome.PROCESSED, Outcome.DUPLICATE]
    assert idwise_handler.events == [event]


def test_a_failed_handler_runs_again_on_the_retry(
    idwise_store: MemoryStore, idwise_handler: RecordingHandler
) -> None:
    dispatcher = make_dispatcher(idwise_store)
    dispatcher.on_any(idwise_handler)
    request = build_request(make_event("Manually Reviewed"), VERIFIER)
    idwise_handler.fail_next()  # as if your database were down for the first delivery

    assert [dispatcher.handle(request).status for _ in range(2)] == [500, 200]
    assert len(idwise_handler.events) == 1


def test_a_crashed_workers_event_runs_once_its_lease_expires(
    idwise_store: MemoryStore, idwise_clock: FakeClock, idwise_handler: RecordingHandler
) -> None:
    dispatcher = make_dispatcher(idwise_store)
    dispatcher.on_any(idwise_handler)
    event = make_event(FinishedJourney)
    request = build_request(event, VERIFIER)
    # Another worker claimed the event, then died without finishing it.
    idwise_store.claim(
        event.idempotency_key, lease=dispatcher.lease, fingerprint=fingerprint(request.body)
    )

    assert dispatcher.handle(request).status == 409  # its lease still holds: IDWise retries later
    idwise_clock.advance(dispatcher.lease)
    assert dispatcher.handle(request).status == 200
    assert idwise_handler.events == [event]


def test_the_handler_runs_once_with_the_postgresql_store(
    idwise_postgres: TemporaryPostgres, idwise_handler: RecordingHandler
) -> None:
    from idwise_events.stores.sql import SqlStore  # the postgres extra: imported where it is used

    store = SqlStore(idwise_postgres.url, table_name="my_app_webhooks")
    dispatcher = make_dispatcher(store)
    dispatcher.on_any(idwise_handler)
    request = build_request(make_event("AML Monitor Update"), VERIFIER)

    assert [dispatcher.handle(request).status for _ in range(2)] == [200, 200]
    assert len(idwise_handler.events) == 1
    store.close()
