"""``idwise-events inbox``: list, show, replay, purge and count the inbox's deliveries."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.table import Table
from rich.text import Text

from .._errors import StoreError
from .._events import wire_names
from .._inbox import MAX_LABEL_LENGTH, Delivery, DeliveryState
from .._text import printable
from ..testing._samples import event_model, known_types
from ._common import (
    DB_HINT,
    DB_VARIABLE,
    MAX_RETENTION_DAYS,
    CliError,
    FiniteFloat,
    database_url,
    dispatcher_with_inbox,
    failure_reason,
    from_environment,
    log_lines,
    missing_inbox,
    missing_sqlite_file,
    parse_database_url,
    stderr,
    stdout,
)

DELIVERY_ID = click.IntRange(min=1, max=2**63 - 1)
"""A delivery id: a positive 64-bit integer, as the inbox's tables store it."""
ROW_LIMIT = click.IntRange(min=1, max=2**63 - 1)
"""How many rows to show: any positive count a database's ``LIMIT`` takes."""

if TYPE_CHECKING:
    from .._inbox import Inbox
    from ..inbox.sql import SqlInbox

F = TypeVar("F", bound=Callable[..., Any])
_REPLAY_PAGE = 50  # (each with its body, up to 1 MB)


def _database_options(command: F) -> F:
    command = click.option(
        "--table", metavar="NAME", help="The inbox's table, if not the default one."
    )(command)
    return click.option(
        "--db",
        required=True,
        envvar=DB_VARIABLE,
        show_envvar=True,
        metavar="URL|FILE",
        help=f"The inbox's database: a SQLAlchemy URL, or the path of a SQLite file. {DB_HINT}",
    )(command)


@contextmanager
def _opened(db: str, table: str | None) -> Iterator[SqlInbox]:
    """The inbox at ``db``; `CliError` if its database or table does not exist (never created)."""
    try:
        from ..inbox.sql import DEFAULT_INBOX_TABLE_NAME, SqlInbox
    except ImportError as exc:
        raise CliError(
            f'the inbox needs SQLAlchemy: pip install "idwise-events[cli]" ({exc})'
        ) from exc
    url = database_url(db)
    parsed, shown = parse_database_url(url)
    missing = missing_sqlite_file(parsed)
    if missing is not None:  # opening it would create an empty database
        raise CliError(f"no SQLite database at {missing}")
    name = table or DEFAULT_INBOX_TABLE_NAME
    try:
        inbox = SqlInbox(url, table_name=name)
    except ImportError as exc:
        raise CliError(f"cannot open {shown}: its driver is not installed ({exc.name})") from exc
    except Exception as exc:  # never the URL as given: it may hold a password
        raise CliError(f"cannot open the database {shown}: {failure_reason(exc)}") from exc
    try:
        if not inbox.exists():
            raise CliError(f"no inbox table {name} in {shown}{_other_inbox_hint(inbox, table)}")
        yield inbox
    except StoreError as exc:
        raise CliError(f"the inbox in {shown} is unavailable: {failure_reason(exc)}") from exc
    finally:
        inbox.close()


_DJANGO_INBOX_TABLE = "idwise_events_inboxdelivery"  # the Django app's (its model's table)


def _other_inbox_hint(inbox: SqlInbox, table: str | None) -> str:
    """Where no table was named: a hint naming the Django app's inbox table, if it is there."""
    if table is not None:
        return ""
    import sqlalchemy as sa

    try:
        django = sa.inspect(inbox.engine).has_table(_DJANGO_INBOX_TABLE)
    except Exception:  # only a hint: the error says what matters
        return ""
    if not django:
        return ""
    return f" (the Django app's inbox is there: add --table {_DJANGO_INBOX_TABLE})"


@click.group(short_help="List, show, replay and purge the inbox's deliveries.")
def inbox() -> None:
    """Look after the deliveries the inbox accepted: see them, replay them, purge old ones."""


@inbox.command("list")
@_database_options
@click.option(
    "--state", type=click.Choice([state.value for state in DeliveryState]), help="Only these."
)
@click.option(
    "--type",
    "event_type",
    metavar="EVENT",
    help='Only this event type ("Finished Journey", FinishedJourney or finished-journey; a'
    " name sent in another case is matched typed as sent).",
)
@click.option("--event-id", metavar="ID", help="Only the deliveries of this eventId.")
@click.option(
    "--before-id",
    type=DELIVERY_ID,
    metavar="DELIVERY_ID",
    help="Only deliveries older than this one: the next page after a list's last row.",
)
@click.option("--limit", type=ROW_LIMIT, default=50, show_default=True)
def list_(
    db: str,
    table: str | None,
    state: str | None,
    event_type: str | None,
    event_id: str | None,
    before_id: int | None,
    limit: int,
) -> int:
    """The latest deliveries, newest first; a full page says how to see the next one."""
    model = None if event_type is None else event_model(event_type)
    # An event type is stored as it was sent: each of its documented names, or the name typed.
    names: list[str | None] = [event_type]
    if model is not None:
        names += [name for name in wire_names(model.event_type.value) if name != event_type]
    with _opened(db, table) as opened:
        found = {
            delivery_id: cells
            for name in names
            for delivery_id, cells in _listed(
                opened,
                limit,
                before_id,
                state=None if state is None else DeliveryState(state),
                event_type=name,
                event_id=event_id,
            )
        }
    ids = sorted(found, reverse=True)[:limit]
    if event_type is not None and model is None and not ids:  # a typo, most likely
        stderr().print(
            Text(
                f"{printable(event_type)!r} is not an IDWise event type ({known_types()}),"
                " and no delivery has that event name."
            )
        )
    grid = Table("id", "state", "event", "event id", "received", "attempts", "last error")
    for delivery_id in ids:
        grid.add_row(*found[delivery_id])
    stdout(pipe_width=_WHOLE_ROWS).print(grid)  # for grep and awk: each delivery on one line
    if len(ids) == limit:  # on stderr: the table stays whole for grep and awk
        stderr().print(Text(f"{limit} shown; older ones with --before-id {ids[-1]} (same filters)"))
    return 0


_PAGE = 50
"""Deliveries read at a time: bodies may be 1 MB each, and a list or replay needs none."""


def _listed(
    inbox: Inbox, limit: int, before_id: int | None, **filters: Any
) -> Iterator[tuple[int, tuple[str | Text, ...]]]:
    """Up to ``limit`` deliveries' ids and table cells, newest first, read a page at a time."""
    while limit:
        page = inbox.deliveries(before_id=before_id, limit=min(_PAGE, limit), **filters)
        for delivery in page:
            yield delivery.id, _cells(delivery)
        if len(page) < min(_PAGE, limit):
            return
        limit -= len(page)
        before_id = page[-1].id


def _cells(delivery: Delivery) -> tuple[str | Text, ...]:
    """The row of ``delivery`` in `list`'s table."""
    replayed = f" (replayed {delivery.replays})" if delivery.replays else ""
    return (
        str(delivery.id),
        delivery.state.value,
        Text(printable(delivery.event_type, 40)),
        Text(printable(delivery.event_id or "-", 40)),
        _time(delivery.received_at),
        f"{delivery.attempts}{replayed}",
        Text(printable(delivery.last_error or "", 60)),
    )


_WHOLE_ROWS = 1000
"""A width no row reaches (each cell is cut short already): the table keeps its own width."""


@inbox.command()
@_database_options
@click.argument("delivery_id", type=DELIVERY_ID)
def show(db: str, table: str | None, delivery_id: int) -> int:
    """One delivery: its state, attempts, last error and payload."""
    with _opened(db, table) as opened:
        delivery = opened.get(delivery_id)
    if delivery is None:
        raise CliError(f"no delivery {delivery_id}")
    console = stdout()
    grid = Table.grid(padding=(0, 2))
    for name, value in _fields(delivery):
        grid.add_row(name, Text(value))
    console.print(grid)
    console.print(Text(_payload(delivery.body)))
    return 0


@inbox.command()
@click.option(
    "--db",
    envvar=DB_VARIABLE,
    show_envvar=True,
    metavar="URL|FILE",
    help=f"The inbox's database: a SQLAlchemy URL, or the path of a SQLite file. {DB_HINT}",
)
@click.option("--table", metavar="NAME", help="The inbox's table, if not the default one.")
@click.option(
    "--app",
    "app_path",
    metavar="MODULE:ATTRIBUTE",
    help="Instead of --db, your dispatcher (myproject.webhooks:dispatcher): replayed in its"
    " inbox, and its on_accepted hooks called, so a queue gets the jobs at once.",
)
@click.argument("delivery_id", type=DELIVERY_ID, required=False)
@click.option("--dead", is_flag=True, help="Replay every dead letter.")
def replay(
    db: str | None, table: str | None, app_path: str | None, delivery_id: int | None, dead: bool
) -> int:
    """Run a done or dead delivery's handlers again (DELIVERY_ID, or --dead for all dead ones).

    The embedded worker takes it at its next scan. With --db, a queue's workers get it from
    their next sweep; with --app, your dispatcher's on_accepted hooks enqueue it at once (Celery,
    the PostgreSQL queue).
    """
    if (delivery_id is None) == (not dead):
        raise click.UsageError("give a DELIVERY_ID or --dead (not both)")
    if app_path is not None and from_environment("db"):
        db = None  # --app given: the variable is for the commands that take only --db
    if db is not None:
        if app_path is not None:
            raise click.UsageError("give --db or --app, not both")
        with _opened(db, table) as opened:
            return _replay(opened, opened.replay, delivery_id, then=_at_the_next_sweep)
    if app_path is None:
        raise click.UsageError("give --db (the inbox's database) or --app (your dispatcher)")
    if table is not None:
        raise click.UsageError("--table goes with --db: the dispatcher's inbox has its own")
    dispatcher, inbox = dispatcher_with_inbox(app_path)
    missing = missing_inbox(inbox)
    if missing is not None:
        raise CliError(
            f"--app: {inbox!r}: {missing}. A relative SQLite path is opened from the current"
            " directory: run this in your app's directory"
        )
    hooks_log = log_lines(logging.WARNING)  # a hook that raised: one line, not a traceback

    def then(them: str) -> str:
        if hooks_log.errors:
            return f"an on_accepted hook raised (above), so the next sweep enqueues {them}"
        if not dispatcher._accepted_hooks:  # (the package's own: no engine is installed)
            return (
                f"your dispatcher has no on_accepted hook to enqueue {them}: {_scan_or_sweep(them)}"
            )
        return _ENQUEUED

    try:
        _replay(inbox, dispatcher.replay, delivery_id, then=then)
    except StoreError as exc:
        raise CliError(f"the inbox {inbox!r} is unavailable: {failure_reason(exc)}") from exc
    if hooks_log.errors:
        raise CliError(
            "an on_accepted hook raised (above): the replayed deliveries are pending all the"
            " same, and your queue's next sweep enqueues them"
        )
    return 0


def _scan_or_sweep(them: str) -> str:
    """When the workers find the replayed delivery (``them``: "it") or deliveries ("them")."""
    return (
        f"the embedded worker takes {them} at its next scan, Celery's or procrastinate's workers"
        " at a sweep (within twice their sweep_every, 2 minutes by default)"
    )


def _at_the_next_sweep(them: str) -> str:
    return f"{_scan_or_sweep(them)}; to enqueue {them} now, replay with --app and your dispatcher"


_ENQUEUED = "enqueued by your dispatcher's on_accepted hooks"


def _replay(
    inbox: Inbox,
    replay_one: Callable[[int], bool],
    delivery_id: int | None,
    *,
    then: Callable[[str], str],
) -> int:
    """Replay one delivery, or every dead letter (each once); print what was done and when it runs.

    ``then("it")`` (or ``"them"``), once the replays are made, says when: at the next scan or
    sweep (``--db``), or enqueued already by the dispatcher's hooks (``--app``).
    """
    if delivery_id is not None:
        if not replay_one(delivery_id):
            delivery = inbox.get(delivery_id)
            if delivery is None:
                raise CliError(f"no delivery {delivery_id}")
            raise CliError(
                f"delivery {delivery_id} is {delivery.state.value}: only done and dead deliveries"
                " can be replayed (a pending one runs anyway)"
            )
        stdout().print(f"Replaying delivery {delivery_id}: {then('it')}.")
        return 0
    count = 0
    before: int | None = None  # pages by id: a replayed letter that dies again is not met again
    try:
        while page := inbox.deliveries(
            state=DeliveryState.DEAD, before_id=before, limit=_REPLAY_PAGE
        ):
            for each in page:
                count += replay_one(each.id)
            before = page[-1].id
    except StoreError:
        if count:
            stdout().print(f"Replayed {_dead_letters(count)} before the inbox failed.")
        raise
    them = "it" if count == 1 else "them"
    stdout().print(f"Replaying {_dead_letters(count)}" + (f": {then(them)}." if count else "."))
    return 0


def _dead_letters(count: int) -> str:
    return f"{count} dead letter" if count == 1 else f"{count} dead letters"


@inbox.command()
@_database_options
@click.option(
    "--older-than-days",
    type=FiniteFloat(min=1, max=MAX_RETENTION_DAYS),
    required=True,
    help="Delete done deliveries finished longer ago than this: at least 1 (a delivery's key"
    " goes with it, and IDWise retries for about 30 minutes, or an event re-sent by hand would"
    " run again).",
)
@click.option("--dead", is_flag=True, help="Delete dead letters that old too.")
def purge(db: str, table: str | None, older_than_days: float, dead: bool) -> int:
    """Delete old done deliveries (and dead letters with --dead); their keys are forgotten."""
    with _opened(db, table) as opened:
        removed = opened.purge(older_than=timedelta(days=older_than_days), dead=dead)
    deliveries = "delivery" if removed == 1 else "deliveries"
    days = "day" if older_than_days == 1 else "days"
    stdout().print(f"Purged {removed} {deliveries} older than {older_than_days:g} {days}.")
    return 0


@inbox.command()
@_database_options
def stats(db: str, table: str | None) -> int:
    """How many deliveries are in each state."""
    with _opened(db, table) as opened:
        counts = opened.stats()
    grid = Table("state", "deliveries")
    for state, count in counts.items():
        grid.add_row(state.value, str(count))
    stdout().print(grid)
    return 0


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def _fields(delivery: Delivery) -> list[tuple[str, str]]:
    return [
        ("id", str(delivery.id)),
        ("state", delivery.state.value),
        ("event", printable(delivery.event_type, MAX_LABEL_LENGTH)),
        ("event id", printable(delivery.event_id or "-", MAX_LABEL_LENGTH)),
        ("key", printable(delivery.key, MAX_LABEL_LENGTH)),
        ("received", _time(delivery.received_at)),
        ("attempts", str(delivery.attempts)),
        ("replays", str(delivery.replays)),
        ("next attempt", _time(delivery.next_attempt_at)),
        ("lease until", _time(delivery.lease_expires_at)),
        ("finished", _time(delivery.finished_at)),
        ("last error", printable(delivery.last_error or "-", 10_000)),
    ]


def _payload(body: bytes) -> str:
    """The body pretty-printed (JSON escapes control characters), or escaped as text if not JSON."""
    try:
        pretty = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # (nested past Python's limit: shown as it is stored)
        return printable(body.decode("utf-8", "backslashreplace"), len(body) * 4 + 1)
    # JSON escapes C0 controls in strings, not the others (DEL, C1, bidi overrides): escape
    # them too, line by line (the only raw newlines in JSON are its layout's).
    return "\n".join(printable(line, len(line) * 10 + 1) for line in pretty.split("\n"))
