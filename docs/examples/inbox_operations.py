"""Operations on the inbox from Python: what the `idwise-events inbox` commands do."""

from __future__ import annotations

from datetime import timedelta

from idwise_events import DeliveryState, Inbox


def replay_dead_letters(inbox: Inbox) -> int:
    """Replay every dead letter (after fixing what made its handler fail), a page at a time."""
    replayed = 0
    before = None  # pages by id, so a letter that dies again at once is not met again
    while page := inbox.deliveries(state=DeliveryState.DEAD, before_id=before, limit=500):
        for delivery in page:
            print(delivery.id, delivery.event_type, delivery.attempts, delivery.last_error)
            replayed += inbox.replay(delivery.id)
        before = page[-1].id
    return replayed


def nightly(inbox: Inbox) -> None:
    """Forget done deliveries after 30 days; report the backlog."""
    inbox.purge(older_than=timedelta(days=30))
    counts = inbox.stats()
    if counts[DeliveryState.DEAD]:
        print(f"{counts[DeliveryState.DEAD]} dead letters to look at")
