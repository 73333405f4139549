"""What the project keeps of each verification result."""

from __future__ import annotations

from django.db import models


class JourneyOutcome(models.Model):
    """A journey's decision, written by the handlers (one row per time a handler ran)."""

    journey_id = models.CharField(max_length=100)
    decision = models.CharField(max_length=50)
    event_id = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"{self.journey_id}: {self.decision}"
