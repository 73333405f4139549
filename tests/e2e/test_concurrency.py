"""Twenty deliveries of one event at once, over real connections, to several worker processes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from idwise_events import FinishedJourney
from idwise_events.testing import make_event

from .conftest import HEADERS, Server

DELIVERIES = 20
TIMEOUT = 30.0  # seconds: a bound for every wait, never a measurement


def test_concurrent_deliveries_of_one_event_run_the_handler_exactly_once(server: Server) -> None:
    """All answered 200 or 409, exactly one processed it, and the handler ran exactly once."""
    event = make_event(FinishedJourney)
    body = event.model_dump_json(by_alias=True).encode()
    barrier = threading.Barrier(DELIVERIES)

    def deliver(client: httpx.Client) -> tuple[int, str]:
        barrier.wait(timeout=TIMEOUT)  # released together, so that they really overlap
        response = client.post(server.url, content=body, headers=HEADERS)
        return response.status_code, response.json()["outcome"]

    clients = [httpx.Client(timeout=TIMEOUT) for _ in range(DELIVERIES)]
    try:
        with ThreadPoolExecutor(DELIVERIES) as pool:
            answers = list(pool.map(deliver, clients, timeout=TIMEOUT))
    finally:
        for client in clients:
            client.close()

    statuses = {status for status, _ in answers}
    outcomes = [outcome for _, outcome in answers]
    assert statuses <= {200, 409}, answers
    assert outcomes.count("processed") == 1, answers
    assert set(outcomes) <= {"processed", "duplicate", "in_progress"}
    # Some delivery came while another worker held the event: the overlap did happen.
    assert "in_progress" in outcomes, answers
    assert server.runs(event.idempotency_key) == 1
