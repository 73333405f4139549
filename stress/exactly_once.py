"""Exactly once at volume: many events, each delivered several times at once, to 4 worker processes.

    python -m stress.exactly_once --events 2000 --copies 3                    # every run below
    python -m stress.exactly_once --inbox celery          # only the inbox with Celery workers

For uvicorn and gunicorn in turn (4 worker processes each, `SqlStore` on a throwaway PostgreSQL
server), a driver sends ``--events`` distinct events, each ``--copies`` times: the copies of an
event sit next to each other in a queue that ``--clients`` threads drain in a locally shuffled
order, so they are in flight together. Each delivery is retried like IDWise retries (409, 5xx,
a failed connection), within a bounded total time. The handler records each run in PostgreSQL.

Printed and asserted: every delivery ended in 200; every event's handler ran exactly once (its
row says ``runs = 1``); none is missing; the copies did overlap (some answers were 409).

With the inbox (``--inbox celery``, ``procrastinate`` or ``all``; by default after the runs
above), the servers serve ``Dispatcher(inbox=SqlInbox(...))`` on the same PostgreSQL, the
engine's ``install`` enqueues each accepted delivery, and ``--workers`` engine worker processes
run the handler: Celery's (a prefork pool, beat running the sweep) on a ``redis-server`` the
script starts, or procrastinate's on the same PostgreSQL. The same deliveries are sent; then the
script waits (within the budget) until the inbox is drained. Printed: the time to acknowledge
every delivery and the time until every handler had run. Asserted: every delivery ended in 200,
one ``accepted`` per event (the other copies are ``duplicate``), every delivery in the inbox is
``done``, and every event's handler ran exactly once, none missing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from idwise_events import BearerAuth, DeliveryState, FinishedJourney
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import auth_headers, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from . import effects
from .delivery import Delivery, deliver
from .engines import ENGINES, apply_procrastinate_schema, engine_workers, redis_server
from .servers import KINDS, Server, serving

SECRET = "exactly-once-secret-31"  # noqa: S105 -- a throwaway credential for servers on loopback
HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(SECRET))}
HANDLER_DELAY = 0.02  # seconds: long enough that the copies of an event overlap
WINDOW = 24  # deliveries shuffled within windows of this many: copies stay close, order varies
SWEEP_EVERY = 10  # seconds: the engines' sweep runs during the drain too (a second job is skipped)


@dataclass
class Result:
    """What one run saw."""

    events: int
    deliveries: list[Delivery]
    runs: dict[str, int]
    seconds: float
    prefix: str = ""
    started: float = 0.0
    """When the first delivery was sent (`time.monotonic`)."""
    inbox: dict[DeliveryState, int] | None = None
    """With the inbox: its deliveries by state once drained (or when the budget ran out)."""
    drained: float | None = None
    """With the inbox: seconds from the first delivery until it was drained (None: never)."""
    taken: Counter[int] | None = None
    """With the inbox: its deliveries by how many times a worker took them (1 unless a lease
    lapsed: a job the engine delivered twice, or the sweep enqueued again, is skipped)."""

    @property
    def statuses(self) -> Counter[int]:
        """Every attempt's status."""
        return Counter(answer.status for d in self.deliveries for answer in d.answers)

    @property
    def outcomes(self) -> Counter[str]:
        """Every attempt's outcome."""
        return Counter(answer.outcome for d in self.deliveries for answer in d.answers)

    @property
    def undelivered(self) -> int:
        """Deliveries that never got a 200."""
        return sum(not delivery.delivered for delivery in self.deliveries)

    @property
    def run_counts(self) -> Counter[int]:
        """How many events ran the handler 0, 1, 2... times."""
        keys = {delivery.key for delivery in self.deliveries}
        return Counter(self.runs.get(key, 0) for key in keys)

    def problems(self) -> list[str]:
        """What broke the claims (empty when they held)."""
        found = []
        if self.undelivered:
            found.append(f"{self.undelivered} deliveries never got a 200")
        wrong = {runs: n for runs, n in self.run_counts.items() if runs != 1}
        if wrong:
            found.append(f"events by handler runs, other than once: {wrong}")
        first = "processed" if self.inbox is None else "accepted"
        if self.outcomes[first] != self.events:
            found.append(f"{self.outcomes[first]} {first!r} answers for {self.events} events")
        if self.inbox is not None:
            if self.drained is None:
                found.append("the inbox was not drained within the budget")
            other = {
                state.value: n for state, n in self.inbox.items() if n and state.value != "done"
            }
            if other or self.inbox[DeliveryState.DONE] != self.events:
                found.append(f"inbox deliveries by state, other than done: {other}")
        return found


def run(
    server: Server, info: str, *, events: int, copies: int, clients: int, seed: int, budget: float
) -> Result:
    """Send the events to ``server``; read back the handler's runs."""
    rng = random.Random(seed)  # noqa: S311 -- seeded so a run can be replayed; nothing secret
    prefix = f"eo-{server.kind}-{uuid.uuid4().hex[:8]}-"
    bodies = {
        f"{prefix}{n}": make_event(FinishedJourney, event_id=f"{prefix}{n}")
        .model_dump_json(by_alias=True)
        .encode()
        for n in range(events)
    }
    keys = list(bodies)
    rng.shuffle(keys)
    queue = [key for key in keys for _ in range(copies)]
    for start in range(0, len(queue), WINDOW):
        window = queue[start : start + WINDOW]
        rng.shuffle(window)
        queue[start : start + WINDOW] = window
    local = threading.local()
    opened: list[httpx.Client] = []  # one per thread, all closed at the end
    started = time.monotonic()
    deadline = started + budget

    def one(key: str) -> Delivery:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
            opened.append(local.client)
        return deliver(local.client, server.url, bodies[key], HEADERS, key=key, deadline=deadline)

    try:
        with ThreadPoolExecutor(clients) as pool:
            deliveries = list(pool.map(one, queue))
    finally:
        for client in opened:
            client.close()
    seconds = time.monotonic() - started
    return Result(events, deliveries, effects.runs(info, prefix), seconds, prefix, started)


def drain(result: Result, inbox: SqlInbox, info: str, *, budget: float) -> None:
    """Wait until no delivery in ``inbox`` is pending or processing; read back what happened.

    At most ``budget`` seconds from the first delivery; then the handler's runs and the inbox's
    states are read into ``result``.
    """
    deadline = result.started + budget
    while True:
        stats = inbox.stats()
        if not stats[DeliveryState.PENDING] and not stats[DeliveryState.PROCESSING]:
            result.drained = time.monotonic() - result.started
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    result.inbox = stats
    result.taken = Counter(d.attempts for d in inbox.deliveries(limit=sum(stats.values())))
    result.runs = effects.runs(info, result.prefix)


def report(label: str, result: Result) -> list[str]:
    """Print the run's figures; the problems found (none when the claim held)."""
    attempts = sum(len(d.answers) for d in result.deliveries)
    print(
        f"{label}: {result.events} events x {len(result.deliveries) // result.events} copies ="
        f" {len(result.deliveries)} deliveries, {attempts} attempts in {result.seconds:.1f} s"
    )
    print(f"  answers by status: {dict(sorted(result.statuses.items()))}")
    print(f"  answers by outcome: {dict(sorted(result.outcomes.items()))}")
    print(f"  events by handler runs: {dict(sorted(result.run_counts.items()))}")
    if result.inbox is not None:
        print(f"  acknowledged every delivery in {result.seconds:.1f} s")
        drained = "never" if result.drained is None else f"in {result.drained:.1f} s"
        print(f"  inbox drained {drained} (from the first delivery)")
        print(f"  inbox by state: { {s.value: n for s, n in result.inbox.items()} }")
        print(f"  inbox deliveries by times taken: {dict(sorted((result.taken or {}).items()))}")
    problems = result.problems()
    if result.inbox is None and result.statuses[409] == 0:
        problems.append("no 409 at all: the copies never overlapped, the run proved little")
    for problem in problems:
        print(f"  PROBLEM {problem}")
    print("  exactly once: " + ("NO" if problems else "yes, every event once, none lost"))
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the script; 0 when every assertion held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="server and engine processes")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--budget", type=float, default=600, help="seconds per server, at most")
    parser.add_argument(
        "--inbox",
        choices=("none", *ENGINES, "all"),
        help="only the inbox's runs on this engine (all: each), or none of them (none);"
        " by default the store's runs, then the inbox's on each engine",
    )
    args = parser.parse_args(argv)
    store_runs = args.inbox in (None, "none")
    engines = {None: ENGINES, "all": ENGINES, "none": ()}.get(args.inbox, (args.inbox,))
    problems = []
    with (
        tempfile.TemporaryDirectory(prefix="idwise-stress-eo-") as name,
        TemporaryPostgres(fsync=True) as postgres,
    ):
        info = effects.conninfo(postgres.port)
        effects.create(info)
        env = {"STRESS_EFFECTS": info, "STRESS_HANDLER_DELAY": str(HANDLER_DELAY)}
        for kind in KINDS if store_runs else ():
            with serving(
                kind, store_url=postgres.url, folder=Path(name), workers=args.workers,
                secret=SECRET, env=env,
            ) as server:  # fmt: skip
                result = run(
                    server, info, events=args.events, copies=args.copies, clients=args.clients,
                    seed=args.seed, budget=args.budget,
                )  # fmt: skip
                problems += report(f"{kind} x{args.workers} workers on PostgreSQL", result)
        for engine in engines:
            results = inbox_runs(
                engine, postgres.url, Path(name), env, events=args.events, copies=args.copies,
                clients=args.clients, workers=args.workers, seed=args.seed, budget=args.budget,
            )  # fmt: skip
            for label, result in results:
                problems += report(label, result)
    return 1 if problems else 0


def inbox_runs(
    engine: str,
    url: str,
    folder: Path,
    env: dict[str, str],
    *,
    events: int,
    copies: int,
    clients: int,
    workers: int,
    seed: int,
    budget: float,
) -> list[tuple[str, Result]]:
    """The run through each server into a `SqlInbox` on ``url``, drained by ``engine``'s workers.

    ``env`` has the side-effect table (``STRESS_EFFECTS``); each run gets an inbox table of its
    own. Returns each run's label and result.
    """
    results = []
    env = {**env, "STRESS_INBOX": engine, "STRESS_SWEEP_EVERY": str(SWEEP_EVERY)}
    with ExitStack() as stack:
        if engine == "celery":
            env["STRESS_BROKER_URL"] = stack.enter_context(redis_server(folder))
        else:
            apply_procrastinate_schema(url)
        for kind in KINDS:
            table = f"stress_inbox_{uuid.uuid4().hex[:12]}"
            inbox = SqlInbox(url, table_name=table)
            inbox.create_table()  # up front: processes starting together would race to create it
            run_folder = folder / f"{engine}-{kind}"
            run_folder.mkdir()
            workers_env = {
                **env, "STRESS_STORE_URL": url, "STRESS_TABLE": table, "STRESS_SECRET": SECRET,
            }  # fmt: skip
            try:
                with (
                    engine_workers(engine, processes=workers, folder=run_folder, env=workers_env),
                    serving(
                        kind, store_url=url, folder=run_folder, workers=workers,
                        secret=SECRET, env={**env, "STRESS_OPEN_QUEUE": "1"}, table=table,
                    ) as server,
                ):  # fmt: skip
                    result = run(
                        server, env["STRESS_EFFECTS"],
                        events=events, copies=copies, clients=clients, seed=seed, budget=budget,
                    )  # fmt: skip
                    drain(result, inbox, env["STRESS_EFFECTS"], budget=budget)
            finally:
                inbox.close()
            label = f"{kind} x{workers} workers, inbox, {engine} x{workers} workers"
            results.append((label, result))
    return results


if __name__ == "__main__":
    sys.exit(main())
