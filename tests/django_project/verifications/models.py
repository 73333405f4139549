"""What the project keeps of each verification result."""

from __future__ import annotations

from django.db import models


class JourneyOutcome(models.Model):
    """A journey's decision, as an event gave it: one row per event, which its handler upserts."""

    journey_id = models.CharField(max_length=100)
    decision = models.CharField(max_length=50)
    event_id = models.CharField(max_length=100, unique=True)  # the event's idempotency key

    def __str__(self) -> str:
        return f"{self.journey_id}: {self.decision}"
