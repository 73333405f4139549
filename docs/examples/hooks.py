"""Hooks: keep deliveries refused as invalid; report an event id that came with another body."""

from __future__ import annotations

# --8<-- [start:hooks]
import logging
import time
from pathlib import Path

from idwise_events import Dispatcher, Event, PayloadError, WebhookRequest, verifier_from_env

log = logging.getLogger(__name__)
dispatcher = Dispatcher(verifier=verifier_from_env())

INVALID_DELIVERIES = Path("invalid-deliveries")


@dispatcher.on_invalid
def keep_invalid(request: WebhookRequest, error: PayloadError) -> None:
    # Authenticated, but not a webhook this version can read (answered 400): keep it to look at.
    INVALID_DELIVERIES.mkdir(exist_ok=True)
    (INVALID_DELIVERIES / f"{time.time_ns()}.json").write_bytes(request.body)
    log.warning("kept an invalid IDWise delivery: %s", error)


@dispatcher.on_fingerprint_mismatch
def event_id_reused(event: Event, request: WebhookRequest) -> None:
    # IDWise repeats the same body on retries: another body means a sender bug or a replay.
    log.error("IDWise event %s came again with another body", event.idempotency_key)


# --8<-- [end:hooks]
