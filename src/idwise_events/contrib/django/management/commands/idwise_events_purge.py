"""``manage.py idwise_events_purge``: forget events older than the retention (run it daily).

With the inbox on, the inbox's done deliveries as old go too (``--dead``: dead letters as well).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections, models, router

from idwise_events._errors import StoreError

from ..._settings import SETTING, load_config
from ...inbox import DjangoInbox
from ...models import InboxDelivery, ReceivedEvent
from ...store import DjangoStore

__all__ = ["Command"]


class Command(BaseCommand):
    """Forget completed events older than ``IDWISE_EVENTS["RETENTION"]`` (30 days by default)."""

    help = (
        "Forget IDWise events completed longer ago than IDWISE_EVENTS['RETENTION'] (30 days by"
        " default), and claims that expired as long ago; with IDWISE_EVENTS['INBOX'] on, the"
        " inbox's deliveries done as long ago too. Run it daily, from cron or a scheduler."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--database``: the alias to purge, if not the one the routers give."""
        parser.add_argument(
            "--database",
            default=None,
            help="The database alias (default: the one DATABASE_ROUTERS pick for the events).",
        )
        parser.add_argument(
            "--dead",
            action="store_true",
            help="With the inbox on: purge its dead letters as old too (kept by default, so"
            " that someone looks at them).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Purge, and say how many events were forgotten."""
        config = load_config(verifier=False)
        if any(error.id == "idwise_events.E006" for error in config.errors):
            raise CommandError(f"{SETTING}['RETENTION'] is invalid: run manage.py check")
        if options["dead"] and not config.inbox:
            raise CommandError(
                f"--dead purges the inbox's dead letters, and {SETTING}['INBOX'] is off"
            )
        alias = options["database"] or router.db_for_write(ReceivedEvent)
        _check_table(alias, ReceivedEvent)
        inbox_alias = options["database"] or router.db_for_write(InboxDelivery)
        if config.inbox:  # both tables checked before anything is purged
            _check_table(inbox_alias, InboxDelivery)
        retention = _spelled(config.retention)
        store = DjangoStore(using=alias, retention=config.retention)
        try:
            removed = store.purge()
        except StoreError as exc:
            raise CommandError(f"cannot purge the database {alias!r}: {exc}") from exc
        events = "event" if removed == 1 else "events"
        self.stdout.write(f"Purged {removed} IDWise {events} older than {retention}.")
        if not config.inbox:
            return
        inbox = DjangoInbox(using=inbox_alias)
        try:
            removed = inbox.purge(older_than=config.retention, dead=options["dead"])
        except StoreError as exc:
            raise CommandError(f"cannot purge the inbox in {inbox_alias!r}: {exc}") from exc
        deliveries = "delivery" if removed == 1 else "deliveries"
        which = "done or dead" if options["dead"] else "done"
        self.stdout.write(f"Purged {removed} inbox {deliveries} ({which}) older than {retention}.")


def _check_table(alias: str, model: type[models.Model]) -> None:
    """Refuse a database that is not in DATABASES, or where the model's table was not migrated."""
    if alias not in list(connections):
        known = ", ".join(repr(name) for name in connections)
        raise CommandError(f"no database {alias!r} in DATABASES (there are {known})")
    table = model._meta.db_table
    try:
        tables = connections[alias].introspection.table_names()
    except DatabaseError as exc:
        raise CommandError(
            f"cannot reach the database {alias!r} ({type(exc.__cause__ or exc).__name__})"
        ) from exc
    if table not in tables:
        raise CommandError(
            f"the database {alias!r} has no table {table}: migrate it first"
            f" (manage.py migrate idwise_events --database={alias})"
        )


def _spelled(delta: timedelta) -> str:
    """``delta`` as people write it: "30 days", "1 day 6 hours", "90 minutes" (not "0:00:00")."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"
