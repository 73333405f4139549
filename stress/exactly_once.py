"""Exactly once at volume: many events, each delivered several times at once, to 4 worker processes.

    python -m stress.exactly_once --events 2000 --copies 3

For uvicorn and gunicorn in turn (4 worker processes each, `SqlStore` on a throwaway PostgreSQL
server), a driver sends ``--events`` distinct events, each ``--copies`` times: the copies of an
event sit next to each other in a queue that ``--clients`` threads drain in a locally shuffled
order, so they are in flight together. Each delivery is retried like IDWise retries (409, 5xx,
a failed connection), within a bounded total time. The handler records each run in PostgreSQL.

Printed and asserted: every delivery ended in 200; every event's handler ran exactly once (its
row says ``runs = 1``); none is missing; the copies did overlap (some answers were 409).
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
from dataclasses import dataclass
from pathlib import Path

import httpx

from idwise_events import BearerAuth, FinishedJourney
from idwise_events.testing import auth_headers, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from . import effects
from .delivery import Delivery, deliver
from .servers import KINDS, Server, serving

SECRET = "exactly-once-secret-31"  # noqa: S105 -- a throwaway credential for servers on loopback
HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(SECRET))}
HANDLER_DELAY = 0.02  # seconds: long enough that the copies of an event overlap
WINDOW = 24  # deliveries shuffled within windows of this many: copies stay close, order varies


@dataclass
class Result:
    """What one run saw."""

    events: int
    deliveries: list[Delivery]
    runs: dict[str, int]
    seconds: float

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
        if self.outcomes["processed"] != self.events:
            found.append(
                f"{self.outcomes['processed']} 'processed' answers for {self.events} events"
            )
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
    return Result(events, deliveries, effects.runs(info, prefix), seconds)


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
    problems = result.problems()
    if result.statuses[409] == 0:
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
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--budget", type=float, default=600, help="seconds per server, at most")
    args = parser.parse_args(argv)
    problems = []
    with (
        tempfile.TemporaryDirectory(prefix="idwise-stress-eo-") as name,
        TemporaryPostgres(fsync=True) as postgres,
    ):
        info = effects.conninfo(postgres.port)
        effects.create(info)
        for kind in KINDS:
            env = {"STRESS_EFFECTS": info, "STRESS_HANDLER_DELAY": str(HANDLER_DELAY)}
            with serving(
                kind, store_url=postgres.url, folder=Path(name), workers=args.workers,
                secret=SECRET, env=env,
            ) as server:  # fmt: skip
                result = run(
                    server, info, events=args.events, copies=args.copies, clients=args.clients,
                    seed=args.seed, budget=args.budget,
                )  # fmt: skip
                problems += report(f"{kind} x{args.workers} workers on PostgreSQL", result)
    # TODO(lead, issue 16): with the inbox, the same run with workers on each engine: serve a
    # Dispatcher(inbox=...) here, start the Celery / PostgreSQL-queue workers, and assert the same
    # `Result.problems()` once the workers have drained the inbox.
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
