"""Concurrent deliveries of one event to a real server on PostgreSQL: the handler runs once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from idwise_events import FinishedJourney
from idwise_events.contrib.django import signals
from idwise_events.contrib.django.models import ReceivedEvent
from idwise_events.testing import make_event

from ...conftest import DJANGO_POSTGRESQL
from ...django_project.verifications.models import JourneyOutcome
from .conftest import HEADERS, URL, body_of

THREADS = 8
HANDLER_DELAY = 0.5  # long enough that the other deliveries arrive while the first is processed


@pytest.mark.django_db(transaction=True, databases=["default", DJANGO_POSTGRESQL])
def test_eight_threads_delivering_one_event_run_its_handler_once(
    live_server: Any, settings: Any
) -> None:
    """One processed (200), the rest 409 or duplicate 200; one row written in PostgreSQL."""
    # The project's events and its app's rows both go to PostgreSQL, as in a production setup.
    settings.DATABASE_ROUTERS = ["tests.django_project.routers.PostgresqlRouter"]
    slow: list[str] = []

    def slow_receiver(sender: type[Any], event: FinishedJourney, **kwargs: Any) -> None:
        slow.append(event.body.journey_id)
        time.sleep(HANDLER_DELAY)

    signals.finished_journey.connect(slow_receiver, weak=False)
    event = make_event(FinishedJourney, journey_id="journey-concurrent-1")
    body = body_of(event)
    start = threading.Barrier(THREADS)
    outcomes: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait(timeout=30)
            reply = httpx.post(f"{live_server.url}{URL}", content=body, headers=HEADERS, timeout=30)
            outcomes.append((reply.status_code, reply.json()["outcome"]))
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        signals.finished_journey.disconnect(slow_receiver)

    counts = Counter(outcomes)
    assert errors == []
    assert counts[(200, "processed")] == 1
    assert (
        counts[(200, "processed")] + counts[(409, "in_progress")] + counts[(200, "duplicate")]
        == THREADS
    )
    assert slow == ["journey-concurrent-1"]
    rows = JourneyOutcome.objects.using(DJANGO_POSTGRESQL)
    assert rows.filter(journey_id="journey-concurrent-1").count() == 1
    assert not JourneyOutcome.objects.using("default").exists()
    record = ReceivedEvent.objects.using(DJANGO_POSTGRESQL).get(key=event.event_id)
    assert record.status == ReceivedEvent.COMPLETED
    print(f"8 concurrent deliveries: {dict(counts)}")  # shown with -s
