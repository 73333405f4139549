"""Handlers: typed per event type, for several types, for every event, for unknown ones."""

from __future__ import annotations

# --8<-- [start:typed]
from idwise_events import (
    AmlMonitorUpdate,
    Dispatcher,
    Event,
    FinishedJourney,
    ManuallyReviewed,
    UnknownEvent,
    UpdatedJourney,
    verifier_from_env,
)

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    # `event` is a FinishedJourney: your editor and mypy know `event.body.system_decision`.
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


# --8<-- [end:typed]


# --8<-- [start:several]
@dispatcher.on(ManuallyReviewed, UpdatedJourney)
def decision_changed(event: ManuallyReviewed | UpdatedJourney) -> None:
    # One review can send both: act on the decision, not on which event brought it.
    print(f"journey {event.body.journey_id} is now {event.body.final_decision}")


# --8<-- [end:several]


# --8<-- [start:any]
@dispatcher.on_any
def audit(event: Event) -> None:
    # Every event, known or not; runs among the typed handlers in registration order.
    print(f"audit: {event.event} {event.idempotency_key}")


@dispatcher.on_unknown
def new_event_type(event: UnknownEvent) -> None:
    # A name this version does not know: answered 200 once the handlers return.
    print(f"unknown event {event.event!r} with fields {sorted(event.body)}")


# --8<-- [end:any]


# --8<-- [start:async]
@dispatcher.on(AmlMonitorUpdate)
async def aml_changed(event: AmlMonitorUpdate) -> None:
    # A coroutine function: awaited on the event loop by the async adapters.
    await notify_compliance(event.body.journey_id, event.body.updated_aml_version_number)


# --8<-- [end:async]


async def notify_compliance(journey_id: str, version: int) -> None:
    """Stand-in for a call to your compliance team's system."""
    print(f"compliance: journey {journey_id} is at AML version {version}")
