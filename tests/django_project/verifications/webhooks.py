"""The verifications app's IDWise handlers: the Django app imports this module at startup."""

from __future__ import annotations

# --8<-- [start:webhooks]
from idwise_events import FinishedJourney
from idwise_events.contrib.django import dispatcher

from .models import JourneyOutcome


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    # Payloads carry ids and decisions, no personal data: fetch the details from IDWise's API.
    # An upsert keyed on the event: if a retry ever runs this again, it rewrites the same row.
    JourneyOutcome.objects.update_or_create(
        event_id=event.idempotency_key,
        defaults={"journey_id": event.body.journey_id, "decision": event.body.system_decision},
    )
    # --8<-- [end:webhooks]
