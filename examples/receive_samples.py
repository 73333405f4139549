"""Receive a sample of every IDWise webhook type, twice, through the dispatcher.

    python examples/receive_samples.py [path/to/events.db]

Each sample (IDWise's documented example, ``idwise_events.testing.SAMPLE_BODIES``) is delivered as
IDWise would: raw bytes with the ``Authorization`` header configured in the portal. The
`Dispatcher` verifies it, parses it, claims it in the embedded SQLite store and runs the handler.
The second delivery of each is a retry, acknowledged as a duplicate without running the handler
again; a request with a guessed token is refused. Run it again and every delivery is a duplicate:
the store remembers.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid

from idwise_events import BearerAuth, Dispatcher, Event
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import SAMPLE_BODIES, build_request


def main(database: str) -> None:
    verifier = BearerAuth("local-demo-token")  # in production: verifier_from_env()
    store = SqlStore(f"sqlite:///{database}")
    dispatcher = Dispatcher(verifier=verifier, store=store)
    handled: list[Event] = []

    @dispatcher.on_any
    def record(event: Event) -> None:
        handled.append(event)  # your business logic goes here

    print(f"idempotency store: {database}")
    print(f"{'type':28} {'delivery':8} {'status':6} outcome")
    for model, body in SAMPLE_BODIES.items():
        # A stable eventId per type, so that a second run finds the first run's events.
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, model.event_type.value))
        raw = json.dumps({"event": model.event_type.value, "body": {"eventId": event_id, **body}})
        for delivery in ("first", "retry"):
            response = dispatcher.handle(build_request(raw, verifier))
            outcome = json.loads(response.body)["outcome"]
            print(f"{model.__name__:28} {delivery:8} {response.status:<6} {outcome}")
    forged_body = b'{"event": "Finished Journey", "body": {"journeyId": "forged"}}'
    forged = build_request(forged_body, headers={"Authorization": "Bearer guessed"})
    response = dispatcher.handle(forged)
    outcome = json.loads(response.body)["outcome"]
    print(f"{'forged request':28} {'-':8} {response.status:<6} {outcome}")
    print(f"handlers ran for {len(handled)} events")
    store.close()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # the dispatcher's log
    main(sys.argv[1] if len(sys.argv) > 1 else "idwise-events.db")
