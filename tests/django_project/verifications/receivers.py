"""The verifications app's signal receivers, for those who prefer Django signals to handlers."""

from __future__ import annotations

# --8<-- [start:receivers]
from typing import Any

from django.dispatch import receiver

from idwise_events import ManuallyReviewed
from idwise_events.contrib.django import signals

from .models import JourneyOutcome


@receiver(signals.manually_reviewed)
def reviewed(sender: type[ManuallyReviewed], event: ManuallyReviewed, **kwargs: Any) -> None:
    JourneyOutcome.objects.filter(journey_id=event.body.journey_id).update(
        decision=event.body.final_decision or event.body.manual_decision
    )
    # --8<-- [end:receivers]
