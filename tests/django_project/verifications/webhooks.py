"""The verifications app's IDWise handlers: the Django app imports this module at startup."""

from __future__ import annotations

# --8<-- [start:webhooks]
from idwise_events import FinishedJourney
from idwise_events.contrib.django import dispatcher

from .models import JourneyOutcome


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    # Payloads carry ids and decisions, no personal data: fetch the details from IDWise's API.
    JourneyOutcome.objects.create(
        journey_id=event.body.journey_id,
        decision=event.body.system_decision,
        event_id=event.event_id or "",
    )
    # --8<-- [end:webhooks]
