"""The admin of the delivery log: staff read it, those with the change permission replay."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client
from django.utils import timezone

from idwise_events import Dispatcher, FinishedJourney, ManuallyReviewed
from idwise_events._inbox import DeliveryState, Taken
from idwise_events.contrib.django import _wiring
from idwise_events.contrib.django._settings import load_config
from idwise_events.contrib.django._wiring import build_dispatcher
from idwise_events.contrib.django.inbox import DjangoInbox
from idwise_events.contrib.django.models import InboxDelivery
from idwise_events.testing import make_event

from .conftest import body_of

CHANGELIST = "/admin/idwise_events/inboxdelivery/"
LEASE = timedelta(minutes=5)

pytestmark = pytest.mark.django_db


def staff_with(*codenames: str) -> Client:
    """A logged-in staff member with these permissions, and no others."""
    user = User.objects.create_user(f"staff-{'-'.join(codenames) or 'none'}", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def accept(inbox: DjangoInbox, event: FinishedJourney | ManuallyReviewed) -> int:
    body = body_of(event)
    return inbox.accept(
        key=event.idempotency_key,
        event_type=event.event,
        event_id=event.event_id,
        fingerprint=hashlib.sha256(body).hexdigest(),
        body=body,
    ).id


def held(result: Taken | None) -> Taken:
    assert result is not None
    return result


@pytest.fixture
def log() -> dict[str, int]:
    """Deliveries in every state: done, dead (with an error), pending."""
    return make_log()


def make_log() -> dict[str, int]:
    """Deliveries in every state: done, dead (with an error), pending."""
    inbox = DjangoInbox()
    done = accept(inbox, make_event(FinishedJourney, journey_id="<script>alert(1)</script>"))
    dead = accept(inbox, make_event(ManuallyReviewed))
    pending = accept(inbox, make_event(FinishedJourney))
    assert inbox.complete(done, held(inbox.take(done, lease=LEASE)).token)
    assert inbox.bury(dead, held(inbox.take(dead, lease=LEASE)).token, error="KeyError: crm")
    return {"done": done, "dead": dead, "pending": pending}


def event_id(delivery_id: int) -> str:
    found: str | None = InboxDelivery.objects.get(id=delivery_id).event_id
    assert found is not None
    return found


def test_the_log_lists_filters_and_searches_deliveries(log: dict[str, int]) -> None:
    """The list shows each delivery; state, type and date filters and the event id narrow it."""
    staff = staff_with("view_inboxdelivery")

    page = staff.get(CHANGELIST).content.decode()
    dead_only = staff.get(CHANGELIST, {"state__exact": "dead"}).content.decode()
    reviews = staff.get(CHANGELIST, {"event_type": "Manually Reviewed"}).content.decode()
    found = staff.get(CHANGELIST, {"q": event_id(log["pending"])}).content.decode()
    this_year = staff.get(CHANGELIST, {"received_at__year": timezone.now().year}).content.decode()
    long_ago = staff.get(CHANGELIST, {"received_at__year": 2000}).content.decode()

    for delivery_id in log.values():
        assert event_id(delivery_id) in page
    assert "KeyError: crm" in page
    assert event_id(log["dead"]) in dead_only
    assert event_id(log["done"]) not in dead_only
    assert event_id(log["dead"]) in reviews
    assert event_id(log["pending"]) not in reviews
    assert event_id(log["pending"]) in found
    assert event_id(log["done"]) not in found
    assert event_id(log["done"]) in this_year
    assert event_id(log["done"]) not in long_ago


def test_a_delivery_shows_its_payload_escaped_and_nothing_can_be_changed(
    log: dict[str, int],
) -> None:
    """The payload is pretty-printed and escaped; no save button; posting a change is refused."""
    staff = staff_with("view_inboxdelivery", "change_inboxdelivery")
    row = InboxDelivery.objects.get(id=log["done"])
    url = f"{CHANGELIST}{row.pk}/change/"

    page = staff.get(url).content.decode()
    changed = staff.post(url, {"state": "pending"})

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "\n  &quot;event&quot;: &quot;Finished Journey&quot;," in page  # pretty-printed
    assert row.token is not None
    assert row.token not in page
    assert 'name="_save"' not in page
    assert changed.status_code == 403
    assert InboxDelivery.objects.get(pk=row.pk).state == "done"
    assert staff.get(f"{CHANGELIST}add/").status_code == 403
    assert staff.get(f"{CHANGELIST}{row.pk}/delete/").status_code == 403


def test_replay_makes_done_and_dead_deliveries_pending_and_says_how_many(
    log: dict[str, int],
) -> None:
    """The action replays done and dead ones, leaves the pending one, and reports both."""
    staff = staff_with("view_inboxdelivery", "change_inboxdelivery")

    response = staff.post(
        CHANGELIST,
        {"action": "replay", "_selected_action": list(log.values())},
        follow=True,
    )

    page = response.content.decode()
    assert "Replayed 2 of the 3 selected deliveries" in page
    assert "1 of them was not replayed: only done and dead ones can be" in page
    rows = {row.id: row for row in InboxDelivery.objects.all()}
    for name in ("done", "dead"):
        assert (rows[log[name]].state, rows[log[name]].replays) == ("pending", 1)
    assert (rows[log["pending"]].state, rows[log["pending"]].replays) == ("pending", 0)
    assert DjangoInbox().stats()[DeliveryState.PENDING] == 3


def test_replaying_only_pending_deliveries_says_none_was_replayed(log: dict[str, int]) -> None:
    """Nothing replayed: one warning, and no "their handlers run again"."""
    staff = staff_with("view_inboxdelivery", "change_inboxdelivery")

    page = staff.post(
        CHANGELIST, {"action": "replay", "_selected_action": [log["pending"]]}, follow=True
    ).content.decode()

    assert "None of the 1 selected deliveries was replayed: only done and dead ones" in page
    assert "Replayed" not in page
    assert "run again" not in page


def replay_through(
    dispatcher: Dispatcher, log: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The page after staff replay every delivery of ``log``, ``dispatcher`` the project's."""
    monkeypatch.setattr(_wiring, "project_dispatcher", lambda: dispatcher)
    staff = staff_with("view_inboxdelivery", "change_inboxdelivery")
    answer = staff.post(
        CHANGELIST, {"action": "replay", "_selected_action": list(log.values())}, follow=True
    )
    return answer.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic_requests", [False, True], ids=["autocommit", "ATOMIC_REQUESTS"])
def test_with_the_inbox_on_a_replay_is_handed_to_the_project_dispatchers_hooks(
    atomic_requests: bool, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue's enqueue (an ``on_accepted`` hook) gets each replayed delivery at once.

    Under ``ATOMIC_REQUESTS``, once the request's transaction commits: a worker sent the job
    earlier would still see the delivery as done, and leave it to the sweep.
    """
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", atomic_requests)
    log = make_log()
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": True}
    dispatcher = build_dispatcher(load_config())
    enqueued: list[tuple[int, str, bool]] = []

    @dispatcher.on_accepted
    def enqueue(delivery_id: int) -> None:
        state = InboxDelivery.objects.get(id=delivery_id).state
        enqueued.append((delivery_id, state, connections["default"].in_atomic_block))

    page = replay_through(dispatcher, log, monkeypatch)

    assert "Replayed 2 of the 3 selected deliveries" in page
    assert sorted(enqueued) == sorted(
        (log[name], "pending", False) for name in ("done", "dead")
    )  # committed, outside any transaction


@pytest.mark.django_db(transaction=True)
def test_a_replay_the_queue_could_not_be_given_is_said_on_the_page(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker down: replayed all the same (pending, for the sweep), and the page says so."""
    log = make_log()
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "INBOX": True}
    dispatcher = build_dispatcher(load_config())

    @dispatcher.on_accepted
    def enqueue(delivery_id: int) -> None:
        raise ConnectionError("the broker is down")

    page = replay_through(dispatcher, log, monkeypatch)

    assert "Replayed 2 of the 3 selected deliveries" in page
    assert "The queue could not be given 2 of them (an on_accepted hook raised" in page
    assert InboxDelivery.objects.get(id=log["dead"]).state == DeliveryState.PENDING


def test_staff_without_the_change_permission_cannot_replay(log: dict[str, int]) -> None:
    """View-only staff get no action, and posting one changes nothing; others see nothing."""
    staff = staff_with("view_inboxdelivery")

    page = staff.get(CHANGELIST).content.decode()
    staff.post(CHANGELIST, {"action": "replay", "_selected_action": [log["dead"]]})

    assert 'name="action"' not in page
    assert InboxDelivery.objects.get(id=log["dead"]).state == "dead"
    assert staff_with().get(CHANGELIST).status_code == 403
