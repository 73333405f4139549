"""Receive a sample of every IDWise webhook type, twice, the way a real endpoint would.

    python examples/receive_samples.py [path/to/events.db]

Each sample (IDWise's documented example, ``idwise_events.testing.SAMPLE_BODIES``) arrives as raw
bytes with the ``Authorization`` header IDWise would send, is verified, parsed, and claimed in the
embedded SQLite idempotency store. The second delivery of each is a retry: the store reports it as
already processed. Run it again and every delivery is a duplicate, because the store remembers.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from datetime import timedelta

from idwise_events import (
    BearerAuth,
    Claimed,
    VerificationError,
    WebhookRequest,
    parse_event,
)
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import SAMPLE_BODIES, auth_headers


def main(database: str) -> None:
    verifier = BearerAuth("local-demo-token")  # in production: verifier_from_env()
    store = SqlStore(f"sqlite:///{database}")
    headers = auth_headers(verifier)
    print(f"idempotency store: {database}")
    for model, body in SAMPLE_BODIES.items():
        # A stable eventId per type, so that a second run finds the first run's events.
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, model.event_type.value))
        raw = json.dumps({"event": model.event_type.value, "body": {"eventId": event_id, **body}})
        for delivery in ("first", "retry"):
            request = WebhookRequest(raw.encode(), headers, client_ip="127.0.0.1")
            verifier.verify(request)
            event = parse_event(request.body)
            fingerprint = hashlib.sha256(request.body).hexdigest()
            claim = store.claim(
                event.idempotency_key, lease=timedelta(minutes=5), fingerprint=fingerprint
            )
            outcome = "duplicate, skipped"
            if isinstance(claim, Claimed):
                store.complete(event.idempotency_key, claim.token)
                outcome = "processed"
            print(f"{type(event).__name__:28} {delivery:5}  {outcome}")
    forged = WebhookRequest(raw.encode(), {"Authorization": "Bearer guessed"})
    try:
        verifier.verify(forged)
    except VerificationError as exc:
        print(f"{'forged request':28} {'':5}  refused: {exc}")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "idwise-events.db")
