"""The management commands: idwise_events_purge (for cron) and idwise_events_send."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from idwise_events import Claimed
from idwise_events.contrib.django.inbox import DjangoInbox
from idwise_events.contrib.django.models import InboxDelivery, ReceivedEvent
from idwise_events.contrib.django.store import DjangoStore
from idwise_events.testing import FakeClock

from ...conftest import DJANGO_POSTGRESQL
from ...django_project.verifications.models import JourneyOutcome
from .test_migrations import TABLE

LEASE = timedelta(minutes=5)


def run(*args: str, **options: Any) -> str:
    output = StringIO()
    call_command(*args, stdout=output, **options)
    return output.getvalue()


def complete(store: DjangoStore, key: str) -> None:
    claim = store.claim(key, lease=LEASE, fingerprint="a")
    assert isinstance(claim, Claimed)
    assert store.complete(key, claim.token)


@pytest.mark.django_db
def test_purge_forgets_events_older_than_the_retention(settings: Any) -> None:
    """Completed events past IDWISE_EVENTS['RETENTION'] go, recent ones stay; it says how many."""
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "RETENTION": timedelta(days=7)}
    clock = FakeClock()
    clock.now = datetime.now(timezone.utc) - timedelta(days=8)
    complete(DjangoStore(clock=clock), "evt-old")
    complete(DjangoStore(), "evt-recent")

    output = run("idwise_events_purge")

    assert output == "Purged 1 IDWise event older than 7 days.\n"
    assert list(ReceivedEvent.objects.values_list("key", flat=True)) == ["evt-recent"]
    assert run("idwise_events_purge").startswith("Purged 0 IDWise events")


def finish(inbox: DjangoInbox, key: str, *, bury: bool = False) -> None:
    """Accept a delivery, take it, and complete it (or bury it as a dead letter)."""
    accepted = inbox.accept(
        key=key, event_type="Finished Journey", event_id=key, fingerprint="a", body=b"{}"
    )
    taken = inbox.take(accepted.id, lease=LEASE)
    assert taken is not None
    token = taken.token
    assert (
        inbox.bury(accepted.id, token, error="E: x") if bury else inbox.complete(accepted.id, token)
    )


@pytest.mark.django_db
def test_purge_with_the_inbox_on_forgets_old_done_deliveries_and_dead_ones_when_told(
    settings: Any,
) -> None:
    """Done deliveries past RETENTION go; dead letters stay unless --dead; recent ones stay."""
    settings.IDWISE_EVENTS = {
        **settings.IDWISE_EVENTS,
        "INBOX": True,
        "RETENTION": timedelta(days=7),
    }
    clock = FakeClock()
    clock.now = datetime.now(timezone.utc) - timedelta(days=8)
    finish(DjangoInbox(clock=clock), "evt-old-done")
    finish(DjangoInbox(clock=clock), "evt-old-dead", bury=True)
    finish(DjangoInbox(), "evt-recent-done")

    assert run("idwise_events_purge") == (
        "Purged 0 IDWise events older than 7 days.\n"
        "Purged 1 inbox delivery (done) older than 7 days.\n"
    )
    keys = InboxDelivery.objects.order_by("key").values_list("key", flat=True)
    assert list(keys) == ["evt-old-dead", "evt-recent-done"]

    output = run("idwise_events_purge", dead=True)

    assert output.endswith("Purged 1 inbox delivery (done or dead) older than 7 days.\n")
    assert list(keys.all()) == ["evt-recent-done"]


def test_purge_dead_is_refused_without_the_inbox() -> None:
    """--dead is about the inbox's dead letters: with the inbox off, it is a mistake to say so."""
    with pytest.raises(CommandError, match=r"--dead .*INBOX.* is off"):
        run("idwise_events_purge", dead=True)


def test_purge_refuses_an_invalid_retention(settings: Any) -> None:
    """An invalid RETENTION stops the command instead of purging with a guess."""
    settings.IDWISE_EVENTS = {**settings.IDWISE_EVENTS, "RETENTION": 30}

    with pytest.raises(CommandError, match="RETENTION"):
        run("idwise_events_purge")


@pytest.mark.parametrize(
    "database",
    [
        pytest.param(
            "default", marks=pytest.mark.django_db(transaction=True, databases=["default"])
        ),
        pytest.param(
            DJANGO_POSTGRESQL,
            marks=pytest.mark.django_db(transaction=True, databases=[DJANGO_POSTGRESQL]),
        ),
    ],
    ids=["sqlite", "postgresql"],
)
def test_purge_refuses_a_database_without_the_table(database: str) -> None:
    """Not migrated there: a CommandError naming the table and the alias; nothing is created."""
    connection = connections[database]
    call_command("migrate", "idwise_events", "zero", database=database, verbosity=0)
    try:
        with pytest.raises(CommandError) as caught:
            run("idwise_events_purge", database=database)

        assert TABLE not in connection.introspection.table_names()
    finally:
        call_command("migrate", "idwise_events", database=database, verbosity=0)
    assert str(caught.value) == (
        f"the database {database!r} has no table {TABLE}: migrate it first"
        f" (manage.py migrate idwise_events --database={database})"
    )


def test_purge_refuses_a_database_alias_that_does_not_exist() -> None:
    """--database nope: a CommandError listing the aliases, not ConnectionDoesNotExist."""
    with pytest.raises(
        CommandError, match=r"no database 'nope' in DATABASES \(there are 'default'"
    ):
        run("idwise_events_purge", database="nope")


@pytest.mark.django_db(transaction=True)
def test_send_delivers_a_sample_event_to_the_running_server(live_server: Any) -> None:
    """Over HTTP to a real server: 200 processed, and the app's handler ran for it."""
    url = f"{live_server.url}/webhooks/idwise/"

    output = run("idwise_events_send", url=url, journey_id="journey-sent-1")

    assert output.splitlines()[1] == '200 {"outcome": "processed"}'
    assert output.startswith("sent Finished Journey ")
    assert JourneyOutcome.objects.get().journey_id == "journey-sent-1"


@pytest.mark.django_db(transaction=True)
def test_send_any_event_type(live_server: Any) -> None:
    """--event picks the type; every one is processed."""
    output = run(
        "idwise_events_send", url=f"{live_server.url}/webhooks/idwise/", event="Step Submitted"
    )

    assert output.startswith("sent Step Submitted ")
    assert ReceivedEvent.objects.get().event_type == "Step Submitted"


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("docs.examples.django_own_dispatcher")
def test_send_reports_credentials_the_server_refuses(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other credentials than the server's: the command fails, saying they were refused."""
    monkeypatch.setenv("KYC_WEBHOOK_TOKEN", "kyc-token")  # that server's, not IDWISE_EVENTS'

    with pytest.raises(CommandError, match="answered 401: the server refused the credentials"):
        run("idwise_events_send", url=f"{live_server.url}/hooks/kyc/")
    assert not ReceivedEvent.objects.exists()


def test_send_reports_a_server_that_is_not_there() -> None:
    """Nothing listening: a clear failure instead of a traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(CommandError, match="could not reach"):
        run("idwise_events_send", url=f"http://127.0.0.1:{port}/webhooks/idwise/", timeout=2)


def test_send_needs_usable_credentials(settings: Any) -> None:
    """Without authentication settings there is nothing to send with."""
    settings.IDWISE_EVENTS = {}

    with pytest.raises(CommandError, match="no usable authentication"):
        run("idwise_events_send", url="http://127.0.0.1:9/")
