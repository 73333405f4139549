"""Django signals sent for each IDWise event processed: one per event type, and one for all.

```python
from django.dispatch import receiver

from idwise_events.contrib.django import signals


@receiver(signals.finished_journey)
def on_finished(sender, event, **kwargs):
    ...  # sender is FinishedJourney, event the typed event
```

Each is sent with ``sender`` the event's class and ``event`` the event, while the event is
claimed, before the handlers of ``webhooks.py`` run: `event_received` first, then the signal
of the event's type. A receiver that raises is a handler that failed (the delivery gets 500 and
IDWise's retry runs everything again).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from django.dispatch import Signal

from ..._events import (
    AmlMonitorUpdate,
    FinishedJourney,
    FinishedOngoingCheck,
    FinishedSpotCheck,
    FinishedStep,
    FinishedUserSteps,
    KycRenewalDeadlineExceeded,
    ManuallyReviewed,
    StepSubmitted,
    UnknownEvent,
    UpdatedJourney,
    VerificationUpdateRequired,
)

__all__ = [
    "SIGNALS",
    "aml_monitor_update",
    "event_received",
    "finished_journey",
    "finished_ongoing_check",
    "finished_spot_check",
    "finished_step",
    "finished_user_steps",
    "kyc_renewal_deadline_exceeded",
    "manually_reviewed",
    "step_submitted",
    "unknown_event",
    "updated_journey",
    "verification_update_required",
]

event_received: Signal = Signal()
"""Every event, known or unknown (the signal twin of ``dispatcher.on_any``)."""
finished_journey: Signal = Signal()
"""A [`FinishedJourney`][idwise_events.FinishedJourney] event."""
manually_reviewed: Signal = Signal()
"""A [`ManuallyReviewed`][idwise_events.ManuallyReviewed] event."""
aml_monitor_update: Signal = Signal()
"""An [`AmlMonitorUpdate`][idwise_events.AmlMonitorUpdate] event."""
finished_user_steps: Signal = Signal()
"""A [`FinishedUserSteps`][idwise_events.FinishedUserSteps] event."""
finished_step: Signal = Signal()
"""A [`FinishedStep`][idwise_events.FinishedStep] event."""
updated_journey: Signal = Signal()
"""An [`UpdatedJourney`][idwise_events.UpdatedJourney] event."""
verification_update_required: Signal = Signal()
"""A [`VerificationUpdateRequired`][idwise_events.VerificationUpdateRequired] event."""
kyc_renewal_deadline_exceeded: Signal = Signal()
"""A [`KycRenewalDeadlineExceeded`][idwise_events.KycRenewalDeadlineExceeded] event."""
finished_spot_check: Signal = Signal()
"""A [`FinishedSpotCheck`][idwise_events.FinishedSpotCheck] event."""
finished_ongoing_check: Signal = Signal()
"""A [`FinishedOngoingCheck`][idwise_events.FinishedOngoingCheck] event."""
step_submitted: Signal = Signal()
"""A [`StepSubmitted`][idwise_events.StepSubmitted] event."""
unknown_event: Signal = Signal()
"""An [`UnknownEvent`][idwise_events.UnknownEvent]: a type this version does not know."""

SIGNALS: Mapping[type[Any], Signal] = MappingProxyType(
    {
        FinishedJourney: finished_journey,
        ManuallyReviewed: manually_reviewed,
        AmlMonitorUpdate: aml_monitor_update,
        FinishedUserSteps: finished_user_steps,
        FinishedStep: finished_step,
        UpdatedJourney: updated_journey,
        VerificationUpdateRequired: verification_update_required,
        KycRenewalDeadlineExceeded: kyc_renewal_deadline_exceeded,
        FinishedSpotCheck: finished_spot_check,
        FinishedOngoingCheck: finished_ongoing_check,
        StepSubmitted: step_submitted,
        UnknownEvent: unknown_event,
    }
)
"""The signal of each event class."""
