"""DjangoStore against SqlStore: claim+complete on the same SQLite file and PostgreSQL server.

    python benchmarks/django_store.py            # full rounds; exits 1 if a bar is missed
    python benchmarks/django_store.py --quick    # a few short rounds, to check the script works

Both stores run the same cycle as benchmarks/stores.py (fresh keys: a claim, then a complete,
each committed on its own), in one run, with the settings the docs give for each database
(SQLite: WAL, IMMEDIATE transactions; PostgreSQL: fsync on). The bar: DjangoStore does at least
0.7x SqlStore's cycles per second.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from harness import Comparison, measure
from idwise_events.stores.sql import SqlStore
from idwise_events.testing.postgres import TemporaryPostgres, postgres_programs_available
from stores import store_cycle

BAR = 1 / 0.7  # time per cycle: at least 0.7x SqlStore's throughput


def configure_django(sqlite_file: Path, postgres: TemporaryPostgres | None) -> None:
    """A minimal project with the app, its table migrated on each database."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    databases: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_file),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
    if postgres is not None:
        databases["postgresql"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": str(postgres.port),
            "CONN_MAX_AGE": None,  # one connection for the run, as a web worker keeps it
        }
    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=["idwise_events.contrib.django"],
        USE_TZ=True,
        IDWISE_EVENTS={"AUTH": "none"},
    )
    django.setup()
    for alias in databases:
        call_command("migrate", "idwise_events", database=alias, verbosity=0)


def comparisons(stack: ExitStack) -> list[Comparison]:
    """DjangoStore / SqlStore on SQLite, and on PostgreSQL when its programs are installed."""
    folder = Path(mkdtemp(prefix="idwise-bench-django-"))
    sqlite_file = folder / "events.db"
    postgres = None
    if postgres_programs_available():
        postgres = stack.enter_context(TemporaryPostgres(fsync=True))
    configure_django(sqlite_file, postgres)
    from idwise_events.contrib.django.store import DjangoStore

    sql_sqlite = SqlStore(f"sqlite:///{sqlite_file}", table_name="sql_side")
    stack.callback(sql_sqlite.close)
    django_sqlite = DjangoStore(using="default")
    found = [
        Comparison(
            "DjangoStore(SQLite) claim+complete / SqlStore, same file",
            lambda: store_cycle(django_sqlite),
            lambda: store_cycle(sql_sqlite),
            bar=BAR,
            number=200,
        )
    ]
    if postgres is not None:
        sql_pg = SqlStore(postgres.url, table_name="sql_side")
        stack.callback(sql_pg.close)
        django_pg = DjangoStore(using="postgresql")
        found.append(
            Comparison(
                "DjangoStore(PostgreSQL) claim+complete / SqlStore, same server",
                lambda: store_cycle(django_pg),
                lambda: store_cycle(sql_pg),
                bar=BAR,
                number=200,
            )
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few short rounds; bars not enforced")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 15
    missed = []
    print(f"{'comparison':66} {'subject':>10} {'baseline':>10} {'ratio':>7}  bar", flush=True)
    with ExitStack() as stack:
        for comparison in comparisons(stack):
            subject, baseline = measure(comparison, rounds=rounds, quick=args.quick)
            ratio = subject / baseline
            ok = comparison.bar is None or ratio <= comparison.bar
            throughput = f"{1 / subject:.0f} vs {1 / baseline:.0f} cycles/s"
            print(
                f"{comparison.title:66} {subject * 1e3:8.2f}ms {baseline * 1e3:8.2f}ms"
                f" {ratio:6.2f}x  <= {BAR:.2f}x {'ok' if ok else 'MISSED'}  ({throughput})",
                flush=True,
            )
            if not ok:
                missed.append(comparison.title)
    if missed and not args.quick:
        print(f"missed {len(missed)} bar(s): {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
