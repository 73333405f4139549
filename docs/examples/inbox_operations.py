"""Operations on the inbox from Python: what the `idwise-events inbox` commands do."""

from __future__ import annotations

from datetime import timedelta

from idwise_events import DeliveryState, Inbox


def replay_dead_letters(inbox: Inbox) -> int:
    """Replay every dead letter (after fixing what made its handler fail)."""
    dead = inbox.deliveries(state=DeliveryState.DEAD, limit=500)
    for delivery in dead:
        print(delivery.id, delivery.event_type, delivery.attempts, delivery.last_error)
    return sum(inbox.replay(delivery.id) for delivery in dead)


def nightly(inbox: Inbox) -> None:
    """Forget done deliveries after 30 days; report the backlog."""
    inbox.purge(older_than=timedelta(days=30))
    counts = inbox.stats()
    if counts[DeliveryState.DEAD]:
        print(f"{counts[DeliveryState.DEAD]} dead letters to look at")
