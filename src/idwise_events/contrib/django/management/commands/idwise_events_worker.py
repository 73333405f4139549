"""``manage.py idwise_events_worker``: process the Django inbox's deliveries on this machine."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from idwise_events._process import RetryPolicy
from idwise_events.inbox.worker import EmbeddedWorker

from ..._settings import SETTING

__all__ = ["Command"]


class Command(BaseCommand):
    """Run the handlers of the deliveries ``IDWISE_EVENTS["INBOX"]`` stored, until SIGTERM."""

    help = (
        "Process the IDWise deliveries stored by IDWISE_EVENTS['INBOX'], one at a time, in the"
        " foreground, until SIGTERM or Ctrl-C (the current delivery's handlers may finish for"
        " up to --grace seconds, then it is given back). For one machine: on several, run the"
        " processing with Celery or the PostgreSQL queue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The options of ``idwise-events worker``, but ``--app``."""
        parser.add_argument(
            "--poll",
            type=_seconds(0.01, 3600),
            default=1.0,
            help="Seconds between scans of the inbox for due deliveries (default 1).",
        )
        parser.add_argument(
            "--grace",
            type=_seconds(0, 86400),
            default=30.0,
            help="On SIGTERM or Ctrl-C, seconds the current delivery's handlers may still run"
            " before they are interrupted and the delivery given back (default 30).",
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            default=8,
            help="Attempts before a failing delivery becomes a dead letter (default 8).",
        )
        parser.add_argument(
            "--first-delay",
            type=_seconds(0.001, 86400),
            default=10.0,
            help="Seconds: the longest wait before a failed delivery's second attempt, with full"
            " jitter (default 10).",
        )
        parser.add_argument(
            "--max-delay",
            type=_seconds(0.001, 86400 * 7),
            default=3600.0,
            help="Seconds: the longest wait between attempts; it doubles from --first-delay up"
            " to this (default 3600).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the embedded worker on the project's dispatcher until a signal stops it."""
        from ... import dispatcher

        if options["max_attempts"] < 1:
            raise CommandError("--max-attempts must be at least 1")
        if options["max_delay"] < options["first_delay"]:
            raise CommandError(
                f"--max-delay ({options['max_delay']:g}) is shorter than --first-delay"
                f" ({options['first_delay']:g}): give a --max-delay at least as long (its"
                " default is 3600)"
            )
        retries = RetryPolicy(
            max_attempts=options["max_attempts"],
            first_delay=timedelta(seconds=options["first_delay"]),
            max_delay=timedelta(seconds=options["max_delay"]),
        )
        if dispatcher.inbox is None:
            raise CommandError(
                f"{SETTING}['INBOX'] is not True: deliveries are processed when they arrive,"
                " and there is nothing for a worker to do"
            )
        worker = EmbeddedWorker(
            dispatcher, poll_interval=timedelta(seconds=options["poll"]), retries=retries
        )
        logger = logging.getLogger("idwise_events")
        verbosity = options["verbosity"]
        lines = _LineHandler(self, logging.INFO if verbosity >= 1 else logging.WARNING)
        lines.tracebacks = verbosity >= 2
        level = logger.level
        logger.addHandler(lines)  # beside the project's LOGGING, which still gets every record
        if logger.getEffectiveLevel() > lines.level:
            logger.setLevel(lines.level)
        self.stderr.write(
            f"Worker processing {dispatcher.inbox!r} (pid {os.getpid()}); Ctrl-C stops it."
        )
        try:
            worker.run_forever(grace=timedelta(seconds=options["grace"]))
        finally:
            logger.removeHandler(lines)
            logger.setLevel(level)
        self.stderr.write("Worker stopped.")


class _LineHandler(logging.Handler):
    """One line per processed delivery on stdout (warnings on stderr), as the library words it.

    With ``tracebacks`` (``-v 2``), a failed attempt's traceback follows its line.
    """

    tracebacks = False

    def __init__(self, command: BaseCommand, level: int) -> None:
        super().__init__(level)
        self._command = command

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.tracebacks and record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        if hasattr(record, "delivery_id"):
            self._command.stdout.write(message)
        else:
            self._command.stderr.write(message)


def _seconds(minimum: float, maximum: float) -> Any:
    """An argparse type: a number of seconds from ``minimum`` to ``maximum``."""

    def parse(text: str) -> float:
        seconds = float(text)
        if not minimum <= seconds <= maximum:  # NaN and infinity too
            raise ValueError(text)
        return seconds

    parse.__name__ = "seconds"  # what argparse names in its error message
    return parse
