"""``idwise-events purge``: the store's retention purge, for a cron job."""

from __future__ import annotations

import click

from .._errors import StoreError
from ._common import (
    DB_HINT,
    DB_VARIABLE,
    MAX_RETENTION_DAYS,
    CliError,
    FiniteFloat,
    database_url,
    open_store,
    shown_url,
    stdout,
)


@click.command(short_help="Forget events older than the retention (for cron).")
@click.option(
    "--db",
    required=True,
    envvar=DB_VARIABLE,
    show_envvar=True,
    metavar="URL|FILE",
    help=f"The store's database: a SQLAlchemy URL, or the path of a SQLite file. {DB_HINT}",
)
@click.option("--table", metavar="NAME", help="The store's table, if not the default one.")
@click.option(
    "--retention-days",
    type=FiniteFloat(min=1, max=MAX_RETENTION_DAYS),
    default=30,
    show_default=True,
    help="Keep completed events this long: at least 1 (IDWise retries for about 30 minutes, and"
    " an event forgotten sooner would run again).",
)
def purge(db: str, table: str | None, retention_days: float) -> int:
    """Forget the events processed longer ago than the retention, and claims expired as long ago.

    Run it daily from cron (or any scheduler); it prints how many records went. A database file
    or a table that does not exist is an error, never created: a typo must not pass for "nothing
    to purge".
    """
    store = open_store(
        database_url(db), table_name=table, retention_days=retention_days, existing=True
    )
    try:
        removed = store.purge()
    except StoreError as exc:
        raise CliError(f"purging {shown_url(store)} failed: {exc}") from exc
    finally:
        store.close()
    records = "record" if removed == 1 else "records"
    stdout().print(
        f"Purged {removed} {records} from {store.table.name} in {shown_url(store)}"
        f" (retention {retention_days:g} {'day' if retention_days == 1 else 'days'})."
    )
    return 0
