"""``manage.py idwise_events_purge``: forget events older than the retention (run it daily)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ..._settings import SETTING, load_config
from ...store import DjangoStore

__all__ = ["Command"]


class Command(BaseCommand):
    """Forget completed events older than ``IDWISE_EVENTS["RETENTION"]`` (30 days by default)."""

    help = (
        "Forget IDWise events completed longer ago than IDWISE_EVENTS['RETENTION'] (30 days by"
        " default), and claims that expired as long ago. Run it daily, from cron or a scheduler."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--database``: the alias to purge, if not the one the routers give."""
        parser.add_argument(
            "--database",
            default=None,
            help="The database alias (default: the one DATABASE_ROUTERS pick for the events).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Purge, and say how many events were forgotten."""
        config = load_config(verifier=False)
        if any(error.id == "idwise_events.E006" for error in config.errors):
            raise CommandError(f"{SETTING}['RETENTION'] is invalid: run manage.py check")
        store = DjangoStore(using=options["database"], retention=config.retention)
        removed = store.purge()
        self.stdout.write(f"Purged {removed} IDWise events older than {config.retention}.")
