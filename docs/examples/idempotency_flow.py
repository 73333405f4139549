"""Processing each webhook exactly once with an idempotency store, by hand.

The dispatcher does all of this for you; this is what it does, step by step.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from idwise_events import (
    Completed,
    Event,
    IdempotencyStore,
    InProgress,
    MemoryStore,
    StoreError,
    fingerprint,
    parse_event,
)
from idwise_events.stores.sql import SqlStore

LEASE = timedelta(minutes=5)  # longer than your handler can ever take


def handle(event: Event) -> None:
    """Your business logic."""
    print(f"processing {event.event} {event.idempotency_key}")


def receive(raw_body: bytes, store: IdempotencyStore) -> int:
    """Handle one delivery; returns the HTTP status to answer IDWise with."""
    event = parse_event(raw_body)
    try:
        # The fingerprint (the body's SHA-256) tells a retry from another body under the same key.
        claim = store.claim(event.idempotency_key, lease=LEASE, fingerprint=fingerprint(raw_body))
    except StoreError:
        return 503  # nothing was processed; IDWise will retry
    if isinstance(claim, Completed):
        return 200  # a retry of an event we already processed
    if isinstance(claim, InProgress):
        return 409  # another worker has it; retry after claim.retry_after
    try:  # here the claim is Claimed: ours to process
        handle(event)
    except Exception:
        store.release(event.idempotency_key, claim.token)  # let the retry run it again
        return 500
    store.complete(event.idempotency_key, claim.token)
    return 200


if __name__ == "__main__":
    body = b'{"event": "Finished User Steps", "body": {"eventId": "7a2e4f90", "journeyId": "j1",'
    body += b' "systemDecision": "Incomplete"}}'
    database = sys.argv[1] if len(sys.argv) > 1 else None
    store = SqlStore(f"sqlite:///{database}") if database else MemoryStore()
    print([receive(body, store) for _ in range(3)])  # IDWise retried twice
