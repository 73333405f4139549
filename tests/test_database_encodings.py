"""A PostgreSQL database in LATIN1: sender-chosen text, or a handler's error, it cannot hold.

The keys are hashed, and the labels (event type, eventId, journeyId) are stored in ASCII: a
delivery whose labels hold characters LATIN1 lacks (``€``, Arabic letters) is stored and
processed, not answered 500 at every retry until IDWise gives up. A ``last_error`` is kept as
written where the database can hold it, and in ASCII where it cannot, rather than losing the
outcome it records. The Django store and inbox run in a process of their own, on Django's own
settings for that database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from idwise_events import (
    BearerAuth,
    Dispatcher,
    Event,
    FinishedJourney,
    ProcessOutcome,
    RetryPolicy,
    process,
)
from idwise_events.inbox.sql import SqlInbox
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import build_request, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from .conftest import postgres_url

ROOT = Path(__file__).parents[1]
NOT_LATIN1 = "\u20ac-\u0627\u0644"  # the euro sign and two Arabic letters
ESCAPED = "\\u20ac-\\u0627\\u0644"  # as stored in ASCII
ERROR = f"no journey {NOT_LATIN1} here"


@pytest.fixture(scope="module")
def latin1_url(postgres: TemporaryPostgres | str) -> Iterator[str]:
    """A new database in LATIN1 on the session's server: its SQLAlchemy URL."""
    url = urlsplit(postgres_url(postgres))
    name = f"latin1_{uuid.uuid4().hex[:12]}"
    admin = url._replace(scheme="postgresql").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} ENCODING 'LATIN1' TEMPLATE template0"
            " LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    yield url._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def event_not_in_latin1() -> FinishedJourney:
    return make_event(
        FinishedJourney, event_id=f"evt-{NOT_LATIN1}-{uuid.uuid4()}", journey_id=NOT_LATIN1
    )


QUICK_RETRY = RetryPolicy(first_delay=timedelta(milliseconds=1))


def deliver_and_fail_once(dispatcher: Dispatcher) -> tuple[FinishedJourney, list[str]]:
    """Deliver an event whose labels LATIN1 lacks, and an unknown one; the handler fails once."""
    failures: list[str] = []

    @dispatcher.on(FinishedJourney)
    def fail_once(event: Event) -> None:
        if not failures:
            failures.append(event.idempotency_key)
            raise RuntimeError(ERROR)

    event = event_not_in_latin1()
    assert dispatcher.handle(build_request(event, dispatcher.verifier)).status == 200
    unknown = make_event("Finished Journey").model_dump(mode="json", by_alias=True)
    unknown["event"] = f"Finished {NOT_LATIN1}"
    request = build_request(json.dumps(unknown).encode(), dispatcher.verifier)
    assert dispatcher.handle(request).status == 200
    return event, failures


def test_the_sql_inbox_stores_and_processes_a_delivery_whose_labels_latin1_lacks(
    latin1_url: str,
) -> None:
    inbox = SqlInbox(latin1_url, table_name="latin1_inbox")
    try:
        dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=inbox)
        event, failures = deliver_and_fail_once(dispatcher)
        [unknown, delivery] = inbox.deliveries()
        assert delivery.event_id == f"evt-{ESCAPED}-{str(event.event_id)[-36:]}"
        assert unknown.event_type == f"Finished {ESCAPED}"

        assert process(dispatcher, delivery.id, retries=QUICK_RETRY) is ProcessOutcome.RETRIED
        failed = inbox.get(delivery.id)
        assert failed is not None
        assert failed.last_error == f"RuntimeError: no journey {ESCAPED} here"
        time.sleep(0.01)
        assert process(dispatcher, delivery.id) is ProcessOutcome.DONE
        assert failures == [event.idempotency_key]
        assert process(dispatcher, unknown.id) is ProcessOutcome.DONE
    finally:
        inbox.close()


def test_an_error_a_utf8_database_holds_is_kept_as_written(
    postgres: TemporaryPostgres | str,
) -> None:
    inbox = SqlInbox(postgres_url(postgres), table_name=f"utf8_inbox_{uuid.uuid4().hex[:8]}")
    try:
        dispatcher = Dispatcher(verifier=BearerAuth("token"), inbox=inbox)
        deliver_and_fail_once(dispatcher)
        delivery = inbox.deliveries()[-1]
        assert process(dispatcher, delivery.id, retries=QUICK_RETRY) is ProcessOutcome.RETRIED
        failed = inbox.get(delivery.id)
        assert failed is not None
        assert failed.last_error == f"RuntimeError: {ERROR}"
    finally:
        inbox.close()


def test_the_sql_store_processes_an_event_whose_labels_latin1_lacks(latin1_url: str) -> None:
    store = SqlStore(latin1_url, table_name="latin1_events")
    try:
        dispatcher = Dispatcher(verifier=BearerAuth("token"), store=store)
        runs: list[str] = []
        dispatcher.on(FinishedJourney)(lambda event: runs.append(event.body.journey_id))
        request = build_request(event_not_in_latin1(), dispatcher.verifier)
        assert dispatcher.handle(request).status == 200
        assert dispatcher.handle(request).status == 200  # the retry: a duplicate
        assert runs == [NOT_LATIN1]
    finally:
        store.close()


DJANGO_SCRIPT = """
import json, sys, uuid
from datetime import timedelta

import django
from django.conf import settings

url = json.loads(sys.argv[1])
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "idwise_events.contrib.django"],
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", **url}},
    USE_TZ=True,
)
django.setup()
from django.core.management import call_command
call_command("migrate", "idwise_events", verbosity=0)

from idwise_events import BearerAuth, Dispatcher, FinishedJourney, RetryPolicy, process
from idwise_events.contrib.django.inbox import DjangoInbox
from idwise_events.contrib.django.models import ReceivedEvent
from idwise_events.contrib.django.store import DjangoStore
from idwise_events.testing import build_request, make_event

NOT_LATIN1 = sys.argv[2]
verifier = BearerAuth("token")
answers = []
events = DjangoStore()
store = Dispatcher(verifier=verifier, store=events)
store.on(FinishedJourney)(events.record_event)  # what the app's dispatcher does without an inbox
event = make_event(FinishedJourney, event_id=f"evt-{NOT_LATIN1}", journey_id=NOT_LATIN1)
answers.append(store.handle(build_request(event, verifier)).status)
row = ReceivedEvent.objects.get()

inbox = DjangoInbox()
queued = Dispatcher(verifier=verifier, inbox=inbox)

@queued.on(FinishedJourney)
def fail(event):
    raise RuntimeError(f"no journey {NOT_LATIN1} here")

answers.append(queued.handle(build_request(event, verifier)).status)
[delivery] = inbox.deliveries()
outcome = process(queued, delivery.id, retries=RetryPolicy(max_attempts=1))
print(json.dumps({
    "answers": answers,
    "store": [row.event_type, row.journey_id],
    "inbox": [delivery.event_id, outcome.value, inbox.get(delivery.id).last_error],
}))
"""


def test_the_django_store_and_inbox_on_a_latin1_database(latin1_url: str) -> None:
    url = urlsplit(latin1_url)
    database = {
        "NAME": url.path.lstrip("/"),
        "USER": url.username or "",
        "HOST": url.hostname or "",
        "PORT": str(url.port or ""),
    }
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_SCRIPT, json.dumps(database), NOT_LATIN1],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found == {
        "answers": [200, 200],
        "store": ["Finished Journey", ESCAPED],
        "inbox": [f"evt-{ESCAPED}", "dead", f"RuntimeError: no journey {ESCAPED} here"],
    }
