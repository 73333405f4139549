"""The admin of received events: staff with the view permission read it, nobody changes it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from idwise_events import Claimed, FinishedJourney, ManuallyReviewed
from idwise_events.contrib.django.models import ReceivedEvent
from idwise_events.contrib.django.store import DjangoStore
from idwise_events.testing import FakeClock, make_event

from ...django_project.settings import TOKEN
from .conftest import body_of, post

CHANGELIST = "/admin/idwise_events/receivedevent/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    """A logged-in staff member allowed to view received events, and nothing else."""
    user = User.objects.create_user("reviewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_receivedevent"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def received(client: Client) -> list[FinishedJourney | ManuallyReviewed]:
    """Two events delivered through the endpoint: one finished journey, one manual review."""
    events: list[FinishedJourney | ManuallyReviewed] = [
        make_event(FinishedJourney, journey_id="journey-admin-1"),
        make_event(ManuallyReviewed, journey_id="journey-admin-2"),
    ]
    for event in events:
        assert post(client, body_of(event)) == (200, "processed")
    return events


def test_the_list_shows_each_event_without_tokens_or_credentials(
    staff: Client, received: list[Any]
) -> None:
    """Keys, types, journeys and states are listed; no fencing token, no credential."""
    page = staff.get(CHANGELIST).content.decode()

    for event in received:
        assert event.event_id in page
        assert event.body.journey_id in page
    assert "Finished Journey" in page
    assert "Manually Reviewed" in page
    assert "completed" in page
    for token in ReceivedEvent.objects.values_list("token", flat=True):
        assert token not in page
    assert TOKEN not in page


def test_search_and_filters_narrow_the_list(staff: Client, received: list[Any]) -> None:
    """Searching a journey id, or filtering by type, keeps only the matching events."""
    found = staff.get(CHANGELIST, {"q": "journey-admin-2"}).content.decode()
    filtered = staff.get(CHANGELIST, {"event_type": "Finished Journey"}).content.decode()

    assert received[1].event_id in found
    assert received[0].event_id not in found
    assert received[0].event_id in filtered
    assert received[1].event_id not in filtered
    assert staff.get(CHANGELIST, {"status__exact": "completed"}).status_code == 200
    assert staff.get(CHANGELIST, {"fingerprint_mismatch__exact": "1"}).status_code == 200


def test_an_event_is_shown_read_only(staff: Client, received: list[Any]) -> None:
    """Its page shows the fields but no form to save, and changing it is forbidden."""
    row = ReceivedEvent.objects.get(key=received[0].event_id)
    url = f"{CHANGELIST}{row.pk}/change/"

    page = staff.get(url).content.decode()
    changed = staff.post(url, {"status": "in_progress"})

    assert row.fingerprint in page
    assert row.token not in page
    assert 'name="_save"' not in page
    assert changed.status_code == 403
    assert ReceivedEvent.objects.get(pk=row.pk).status == ReceivedEvent.COMPLETED


def test_nothing_can_be_added_or_deleted_even_by_a_superuser(
    admin_client: Client, received: list[Any]
) -> None:
    """No add or delete views, no bulk action: rows belong to the idempotency store."""
    row = ReceivedEvent.objects.get(key=received[0].event_id)

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{row.pk}/delete/").status_code == 403
    assert 'name="action"' not in admin_client.get(CHANGELIST).content.decode()


def test_staff_without_the_permission_see_nothing(received: list[Any]) -> None:
    """The view permission is needed: other staff are refused."""
    user = User.objects.create_user("other", is_staff=True)
    client = Client()
    client.force_login(user)

    assert client.get(CHANGELIST).status_code == 403


def test_the_lease_is_shown_only_for_events_in_progress(staff: Client) -> None:
    """A completed event shows no lease (list and page); one in progress shows when it ends."""
    store = DjangoStore(clock=FakeClock(start=datetime(2031, 5, 17, 9, 30, tzinfo=timezone.utc)))
    done = store.claim("evt-admin-done", lease=timedelta(minutes=5), fingerprint="a")
    assert isinstance(done, Claimed)
    store.complete("evt-admin-done", done.token)
    store.claim("evt-admin-running", lease=timedelta(minutes=5), fingerprint="a")

    listed = staff.get(CHANGELIST).content.decode()
    completed_page = staff.get(f"{CHANGELIST}evt-admin-done/change/").content.decode()
    running_page = staff.get(f"{CHANGELIST}evt-admin-running/change/").content.decode()

    lease_end = "May 17, 2031, 4:35 a.m."  # 9:35 UTC, in the project's TIME_ZONE (Chicago)
    assert listed.count(lease_end) == 1  # the running event's lease only
    assert "Lease expires at" not in completed_page
    assert lease_end not in completed_page
    assert "Lease expires at" in running_page
    assert lease_end in running_page
