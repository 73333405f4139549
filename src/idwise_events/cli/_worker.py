"""``idwise-events worker``: the embedded worker in the foreground, for the SQLite inbox."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import click

from ._common import FiniteFloat, dispatcher_with_inbox, log_lines, missing_inbox, stderr


@click.command(short_help="Process the inbox's deliveries in the foreground (one machine).")
@click.option(
    "--app",
    "app_path",
    required=True,
    metavar="MODULE:ATTRIBUTE",
    help="Your dispatcher, as uvicorn takes an app: myproject.webhooks:dispatcher.",
)
@click.option(
    "--poll",
    type=FiniteFloat(min=0.01, max=3600),
    default=1.0,
    show_default=True,
    help="Seconds between scans of the inbox for due deliveries.",
)
@click.option(
    "--grace",
    type=FiniteFloat(min=0, max=86400),
    default=30.0,
    show_default=True,
    help="On SIGTERM or Ctrl-C, seconds the current delivery's handlers may still run before"
    " they are interrupted and the delivery given back.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Attempts before a failing delivery becomes a dead letter.",
)
@click.option(
    "--first-delay",
    type=FiniteFloat(min=0.001, max=86400),
    default=10.0,
    show_default=True,
    help="Seconds: the longest wait before a failed delivery's second attempt (full jitter).",
)
@click.option(
    "--max-delay",
    type=FiniteFloat(min=0.001, max=86400 * 7),
    default=3600.0,
    show_default=True,
    help="Seconds: the longest wait between attempts; it doubles from --first-delay up to this.",
)
def worker(
    app_path: str,
    poll: float,
    grace: float,
    max_attempts: int,
    first_delay: float,
    max_delay: float,
) -> int:
    """Run the handlers of the deliveries your dispatcher's inbox accepted, one at a time.

    Made for the SQLite inbox on one machine; on several machines, Celery or the PostgreSQL
    queue distribute the work (on a PostgreSQL inbox this worker is correct too, polling). It
    prints one line per processed delivery, and stops on SIGTERM or Ctrl-C, giving back the
    delivery it holds if its handlers do not finish within --grace.
    """
    from .._process import RetryPolicy
    from ..inbox.worker import EmbeddedWorker

    if max_delay < first_delay:
        raise click.UsageError(
            f"--max-delay ({max_delay:g}) is shorter than --first-delay ({first_delay:g}):"
            " give a --max-delay at least as long (its default is 3600)"
        )
    retries = RetryPolicy(
        max_attempts=max_attempts,
        first_delay=timedelta(seconds=first_delay),
        max_delay=timedelta(seconds=max_delay),
    )
    dispatcher, inbox = dispatcher_with_inbox(app_path)
    log_lines(logging.INFO)
    embedded = EmbeddedWorker(dispatcher, poll_interval=timedelta(seconds=poll), retries=retries)
    stderr().print(f"Worker processing {inbox!r} (pid {os.getpid()}); Ctrl-C stops it.")
    missing = missing_inbox(inbox)
    if missing is not None:
        stderr().print(
            f"Warning: {missing}. If your app runs in another directory (a relative SQLite"
            " path) or on another database, its deliveries are not here."
        )
    embedded.run_forever(grace=timedelta(seconds=grace))
    stderr().print("Worker stopped.")
    return 0
