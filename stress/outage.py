"""Store outage and frozen network mid-load: bounded 503s, then retries succeed; nothing lost.

    python -m stress.outage --freeze 4 --outage 4

For uvicorn and gunicorn in turn (2 worker processes), the `SqlStore` reaches PostgreSQL through
a proxy the script controls (`FreezableProxy`), with a ``network_timeout`` of ``NETWORK_TIMEOUT``
seconds and a lease of ``LEASE`` seconds; the handler records its runs in the same server,
directly. Clients send new events without pause while the script, mid-load, freezes the network
to the store for ``--freeze`` seconds, lets it recover, then stops PostgreSQL for ``--outage``
seconds and starts it again. Every delivery is retried like IDWise does, within a bounded time.

Asserted: answers are only 200, 409, 500 or 503; every 503 carries Retry-After; some 503s were
seen (the faults were felt); no attempt waited longer than ``ATTEMPT_BOUND`` seconds; every
event was delivered in the end, and nothing acknowledged was left unprocessed (each event's
handler ran). Printed: the events whose handler ran twice. The side effect is committed in its
own transaction before the store's ``complete``: a fault that falls between the two makes the
delivery fail (503) after the handler ran, so the retry runs it again. Such a duplicate is
allowed only for an event that was answered a 5xx; the figure says how often it happened.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from idwise_events import BearerAuth, FinishedJourney
from idwise_events.testing import auth_headers, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from . import effects
from .delivery import Delivery, deliver
from .proxy import FreezableProxy
from .servers import KINDS, Server, serving

SECRET = "outage-secret-5d0a"  # noqa: S105 -- a throwaway credential for servers on loopback
HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(SECRET))}
NETWORK_TIMEOUT = 2.0  # seconds: the store gives up on a silent network after this
LEASE = 3.0  # seconds
ATTEMPT_BOUND = 15.0  # seconds: connect (2) + network timeout (2) + the pool's wait, with room
SCHEDULE = (1.0, 2.0, 4.0)  # IDWise's retry shape, faster; the last interval repeats
RETRY_BUDGET = 90.0  # seconds after the load stops for the last retries to land
STEADY = 2.0  # seconds of normal load before, between and after the faults
ALLOWED = {200, 409, 500, 503}


@dataclass
class Run:
    """What the clients saw, and what the handler recorded."""

    deliveries: list[Delivery] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """What broke the claims (empty when they held)."""
        answers = [answer for d in self.deliveries for answer in d.answers]
        statuses = Counter(answer.status for answer in answers)
        found = []
        if set(statuses) - ALLOWED:
            found.append(f"answers outside {sorted(ALLOWED)}: {dict(statuses)}")
        if any(a.status == 503 and not a.retry_after for a in answers):
            found.append("a 503 without Retry-After")
        if not statuses[503]:
            found.append("no 503 at all: the faults were not felt, the run proved little")
        slowest = max(answer.seconds for answer in answers)
        if slowest > ATTEMPT_BOUND:
            found.append(f"an attempt took {slowest:.1f} s (bound {ATTEMPT_BOUND:g} s)")
        lost = [d.key for d in self.deliveries if not d.delivered]
        if lost:
            found.append(f"{len(lost)} events never delivered: {lost[:5]}")
        unprocessed = [d.key for d in self.deliveries if d.delivered and not self.runs.get(d.key)]
        if unprocessed:
            found.append(f"{len(unprocessed)} acknowledged but never processed: {unprocessed[:5]}")
        for key in self.duplicates:
            failed = any(
                a.status >= 500 for d in self.deliveries if d.key == key for a in d.answers
            )
            if not failed:
                found.append(f"{key} ran twice although no delivery of it failed")
        return found

    @property
    def duplicates(self) -> list[str]:
        """Keys of the events whose handler ran more than once."""
        return [key for key, count in self.runs.items() if count > 1]


def load(
    server: Server, info: str, postgres: TemporaryPostgres, proxy: FreezableProxy, *,
    freeze: float, outage: float, clients: int,
) -> Run:  # fmt: skip
    """New events without pause while the faults happen; then the last retries; then the runs."""
    run = Run()
    prefix = f"outage-{server.kind}-{uuid.uuid4().hex[:8]}-"
    numbers = itertools.count()
    numbers_lock = threading.Lock()
    load_over = threading.Event()

    def client_loop() -> list[Delivery]:
        done = []
        with httpx.Client() as client:
            while not load_over.is_set():
                with numbers_lock:
                    key = f"{prefix}{next(numbers)}"
                body = make_event(FinishedJourney, event_id=key).model_dump_json(by_alias=True)
                deadline = time.monotonic() + RETRY_BUDGET
                done.append(
                    deliver(client, server.url, body.encode(), HEADERS, key=key,
                            deadline=deadline, schedule=SCHEDULE)
                )  # fmt: skip
        return done

    def note(fault: str) -> None:
        run.faults.append(f"{time.monotonic() - started:5.1f} s {fault}")

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client_loop) for _ in range(clients)]
        try:
            time.sleep(STEADY)
            note("network to the store frozen")
            proxy.freeze()
            time.sleep(freeze)
            proxy.thaw()
            note("network thawed")
            time.sleep(STEADY)
            note("PostgreSQL stopped")
            postgres.stop()
            time.sleep(outage)
            postgres.start()
            note("PostgreSQL started again")
            time.sleep(STEADY)
        finally:
            proxy.thaw()
            if not postgres.running:
                postgres.start()
            load_over.set()
        for future in futures:
            run.deliveries += future.result()
    note("all deliveries finished")
    run.runs = effects.runs(info, prefix)
    return run


def report(kind: str, run: Run) -> list[str]:
    """Print the run's figures; the problems found."""
    answers = [answer for d in run.deliveries for answer in d.answers]
    statuses = Counter(answer.status for answer in answers)
    outcomes = Counter(answer.outcome for answer in answers)
    slowest = max(answer.seconds for answer in answers)
    print(f"{kind}: {len(run.deliveries)} events, {len(answers)} attempts")
    for fault in run.faults:
        print(f"  {fault}")
    print(f"  answers by status: {dict(sorted(statuses.items()))}; by outcome: {dict(outcomes)}")
    retry_after = Counter(a.retry_after for a in answers if a.status == 503)
    print(f"  slowest attempt {slowest:.2f} s; Retry-After on 503: {dict(retry_after)}")
    delivered = sum(d.delivered for d in run.deliveries)
    runs = Counter(run.runs.get(d.key, 0) for d in run.deliveries)
    by_runs = dict(sorted(runs.items()))
    print(f"  delivered {delivered}/{len(run.deliveries)}; events by handler runs {by_runs}")
    problems = run.problems()
    for problem in problems:
        print(f"  PROBLEM {problem}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the script; 0 when every assertion held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--freeze", type=float, default=4.0, help="seconds the network is frozen")
    parser.add_argument("--outage", type=float, default=4.0, help="seconds PostgreSQL is down")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    problems = []
    with (
        tempfile.TemporaryDirectory(prefix="idwise-stress-outage-") as name,
        TemporaryPostgres() as postgres,
    ):
        info = effects.conninfo(postgres.port)
        effects.create(info)
        for kind in KINDS:
            with FreezableProxy(("127.0.0.1", postgres.port)) as proxy:
                store_url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/postgres"
                env = {
                    "STRESS_EFFECTS": info,
                    "STRESS_NETWORK_TIMEOUT": str(NETWORK_TIMEOUT),
                    "STRESS_LEASE": str(LEASE),
                }
                with serving(
                    kind, store_url=store_url, folder=Path(name), workers=args.workers,
                    secret=SECRET, env=env,
                ) as server:  # fmt: skip
                    run = load(
                        server, info, postgres, proxy, freeze=args.freeze, outage=args.outage,
                        clients=args.clients,
                    )  # fmt: skip
                    problems += report(kind, run)
    print("FAILED" if problems else "all assertions held")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
