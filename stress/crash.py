"""Crash: a worker killed (SIGKILL) mid-handler; the retry after the lease runs the event once.

    python -m stress.crash --events 20

For uvicorn and gunicorn in turn (2 worker processes, `SqlStore` on a throwaway PostgreSQL
server, a lease of ``LEASE`` seconds), each event is first delivered while a marker file tells
the handler to kill its own process (SIGKILL, before it records anything). Then:

- that first delivery is not acknowledged (no 200: the connection drops or the server answers 5xx);
- a delivery at once afterwards, if answered within the lease, finds the dead worker's claim
  still leased: 409 with Retry-After (while the server replaces its worker, the delivery may wait
  longer than the lease: then it is processed, once);
- IDWise's retries (on a shorter clock) get a 200 ``processed`` once the lease has run out;
- the handler ran exactly once (the killed run recorded nothing), and a third delivery is a
  ``duplicate`` that runs nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from idwise_events import BearerAuth, FinishedJourney
from idwise_events.testing import auth_headers, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from . import effects
from .delivery import deliver
from .servers import KINDS, Server, serving

SECRET = "crash-secret-0b5e"  # noqa: S105 -- a throwaway credential for servers on loopback
HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(SECRET))}
LEASE = 2.0  # seconds: the dead worker's claim blocks retries this long
BUDGET = 60.0  # seconds, at most, for the retries of one event


def crash_events(server: Server, info: str, crash_dir: Path, count: int) -> list[str]:
    """Crash the handler on ``count`` events, one after another; the problems seen."""
    problems = []
    first_answers: Counter[int] = Counter()
    retries = []
    held = 0  # deliveries answered 409 while the dead worker's lease ran
    prefix = f"crash-{server.kind}-{uuid.uuid4().hex[:8]}-"
    with httpx.Client() as client:
        for number in range(count):
            key = f"{prefix}{number}"
            body = make_event(FinishedJourney, event_id=key).model_dump_json(by_alias=True).encode()
            (crash_dir / key).touch()
            first = deliver(client, server.url, body, HEADERS, key=key, deadline=0)
            status = first.answers[0].status
            first_answers[status] += 1
            if status == 200 or (crash_dir / key).exists():
                problems.append(f"{key}: the killed delivery answered {status} or never ran")
                continue
            killed = time.monotonic()
            at_once = deliver(client, server.url, body, HEADERS, key=key, deadline=0).answers[0]
            outcomes = [at_once.outcome]
            if at_once.status == 409:
                held += 1
                if at_once.retry_after is None:
                    problems.append(f"{key}: 409 without Retry-After")
            elif time.monotonic() - killed < LEASE:
                # Answered within the lease: the dead worker's claim must still hold the event.
                problems.append(f"{key}: during the lease: {at_once.status} {at_once.outcome}")
            if at_once.status != 200:
                retry = deliver(
                    client, server.url, body, HEADERS, key=key, deadline=time.monotonic() + BUDGET
                )
                retries.append(len(retry.answers))
                outcomes += [answer.outcome for answer in retry.answers]
            if outcomes.count("processed") != 1 or outcomes[-1] != "processed":
                problems.append(f"{key}: after the kill, the deliveries were {outcomes}")
            again = deliver(client, server.url, body, HEADERS, key=key, deadline=0).answers[0]
            if again.outcome != "duplicate":
                problems.append(f"{key}: a later delivery was {again.outcome}, not a duplicate")
    runs = effects.runs(info, prefix)
    counts = Counter(runs.get(f"{prefix}{n}", 0) for n in range(count))
    if counts != Counter({1: count}):
        problems.append(f"events by handler runs: {dict(counts)} (each should have run once)")
    print(
        f"{server.kind}: {count} workers killed mid-handler; first answers {dict(first_answers)}"
        f" (0 = connection dropped); {held} next deliveries answered 409 during the lease (the"
        f" others waited for a new worker longer than the lease); the retry after the {LEASE:g} s"
        " lease took"
        f" {min(retries, default=0)}-{max(retries, default=0)} attempts; events by handler runs"
        f" {dict(counts)}"
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the script; 0 when every assertion held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20, help="workers killed per server")
    args = parser.parse_args(argv)
    problems = []
    with (
        tempfile.TemporaryDirectory(prefix="idwise-stress-crash-") as name,
        TemporaryPostgres() as postgres,
    ):
        info = effects.conninfo(postgres.port)
        effects.create(info)
        crash_dir = Path(name) / "crash"
        crash_dir.mkdir()
        for kind in KINDS:
            env = {
                "STRESS_EFFECTS": info,
                "STRESS_CRASH_DIR": str(crash_dir),
                "STRESS_LEASE": str(LEASE),
            }
            with serving(
                kind, store_url=postgres.url, folder=Path(name), workers=2, secret=SECRET, env=env
            ) as server:
                problems += crash_events(server, info, crash_dir, args.events)
    for problem in problems:
        print(f"  PROBLEM {problem}")
    print("FAILED" if problems else "all assertions held")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
