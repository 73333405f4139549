"""Parsing by hand: turn a webhook body into a typed event and act on it."""

from __future__ import annotations

from idwise_events import (
    FinalDecision,
    FinishedJourney,
    PayloadError,
    UnknownEvent,
    UpdatedJourney,
    parse_event,
)


def handle_webhook(raw_body: bytes) -> int:
    """What your POST endpoint does with the raw body; returns the HTTP status to answer."""
    try:
        event = parse_event(raw_body)
    except PayloadError as exc:
        print(f"rejected: {exc}")
        return 400

    if isinstance(event, FinishedJourney):
        # Payloads carry no personal data: fetch the journey result with this id.
        print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")
    elif isinstance(event, UpdatedJourney) and event.body.final_decision is FinalDecision.REJECTED:
        print(f"journey {event.body.journey_id} was rejected after {event.body.action}")
    elif isinstance(event, UnknownEvent):
        print(f"acknowledging an event this version does not know: {event.event!r}")
    return 200  # IDWise retries anything but 200


if __name__ == "__main__":
    body = b"""{
      "event": "Finished Journey",
      "body": {
        "eventId": "3f1c2a9e-7b4d-4e21-9c0a-5d8e6f7a1b27",
        "journeyId": "6720a1f3c9e84b2d5f0e122e",
        "referenceNo": "cust-000842",
        "systemDecision": "Complete"
      }
    }"""
    print(handle_webhook(body))
    print(handle_webhook(b'{"event": "Finished Journey", "body": {}}'))
