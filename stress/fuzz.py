"""Fuzzing through the dispatcher and through real servers: only 200 or 4xx, never a 500 or a hang.

    python -m stress.fuzz --cases 100000          # each server gets that many; the dispatcher too

Cases are generated from a seed (so a failure can be replayed): valid deliveries (a new eventId
each, answered 200), and mutations of them: byte flips, truncation, type swaps, deep nesting,
huge numbers and strings, odd unicode, duplicate keys, wrong and missing credentials, wrong
methods, and lying ``Content-Length`` headers. Each is sent over its own raw socket (so that
the framing can lie), with a timeout on every step. The servers' resident memory (all their
processes) is sampled after a warm-up and at the end.

Asserted: no answer is 5xx; nothing hangs (a request without an answer within ``TIMEOUT`` is a
failure); a connection closed without an answer happens only for requests whose framing lies
(the server cannot tell where such a request ends); valid deliveries get 200; the memory grows
by at most ``RSS_TOLERANCE``. In-process, `Dispatcher.handle` answers every body with 200 or
4xx and raises nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from idwise_events import (
    BearerAuth,
    Dispatcher,
    EventType,
    WebhookRequest,
)
from idwise_events.stores.sql import SqlStore
from idwise_events.testing import auth_headers, make_event

from .servers import KINDS, PATH, Server, serving

SECRET = "fuzz-secret-7c1d"  # noqa: S105 -- a throwaway credential for servers on loopback
TIMEOUT = 10.0  # seconds for any one request: longer is a hang
RSS_TOLERANCE = 0.25  # growth of the servers' resident memory, as a share of the warm figure
RSS_SLACK = 16 * 1024 * 1024  # ...or this many bytes, whichever is more (allocator noise)
WARM_UP = 500  # cases sent before the first memory sample
GOOD_HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(SECRET))}
TYPES = list(EventType)
ODD_STRINGS = [
    "\u0000", "\ud800", "\udfff", "\u202e\u202d", "\ufeff", "\U0001f600" * 50, "e\u0301" * 100,
    "\uffff", "\\", '"', "\u2028\u2029", "A" * 70_000,
]  # fmt: skip
ODD_BYTES = [b"\xc0\xaf", b"\xed\xa0\x80", b"\xff\xfe", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
WRONG_METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"]


@dataclass
class Case:
    """One delivery: its method, headers and body, and how its framing lies (if it does)."""

    kind: str
    body: bytes
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=lambda: dict(GOOD_HEADERS))
    content_length: str | None = None  # None: the true length
    lying: bool = False  # the framing lies: a closed connection without an answer is fair

    @property
    def valid(self) -> bool:
        """Whether the case is a well-formed, authenticated delivery (answered 200)."""
        return self.kind == "valid"


def _valid_body(rng: random.Random, serial: str) -> bytes:
    event = make_event(rng.choice(TYPES).value, event_id=f"fuzz-{serial}")
    return event.model_dump_json(by_alias=True).encode()


def _swap_types(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """Replace some values of a decoded body with values of another JSON type."""
    replacements: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], {}, [1, "a"], {"a": None}]
    if isinstance(value, dict):
        return {
            key: rng.choice(replacements) if rng.random() < 0.3 else _swap_types(rng, item, depth)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_swap_types(rng, item, depth + 1) for item in value]
    return value


def _mutations() -> dict[str, Callable[[random.Random, bytes], Case]]:
    def byte_flip(rng: random.Random, body: bytes) -> Case:
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return Case("byte_flip", bytes(data))

    def truncation(rng: random.Random, body: bytes) -> Case:
        return Case("truncation", body[: rng.randrange(len(body))])

    def type_swap(rng: random.Random, body: bytes) -> Case:
        envelope = json.loads(body)
        if rng.random() < 0.2:
            envelope = rng.choice([[], "x", 1, None, {"event": 1, "body": []}, {"body": {}}])
        else:
            envelope["body"] = _swap_types(rng, envelope["body"])
        return Case("type_swap", json.dumps(envelope).encode())

    def deep_nesting(rng: random.Random, body: bytes) -> Case:
        depth = rng.choice([100, 1_000, 10_000, 100_000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        nested = opener * depth + "1" + closer * depth
        return Case("deep_nesting", body[:-2] + b', "deep": ' + nested.encode() + b"}}")

    def huge_number(rng: random.Random, body: bytes) -> Case:
        number = rng.choice(
            ["1" * 5_000, "-" + "9" * 20_000, "1e400", "-1e-400", "1" + "0" * 400 + ".5e99999",
             "NaN", "Infinity", "-Infinity", "0x10", "01", "1.", ".5"]
        )  # fmt: skip
        where = rng.choice(["journeyId", "eventId", "extra"])
        text = body.decode().replace(f'"{where}":', f'"{where}": {number}, "was":', 1)
        if where == "extra":
            text = text[:-2] + f', "extra": {number}}}}}'
        return Case("huge_number", text.encode())

    def huge_string(rng: random.Random, body: bytes) -> Case:
        size = rng.choice([10_000, 100_000, 500_000, 1_048_577])
        return Case("huge_string", body[:-2] + b', "huge": "' + b"x" * size + b'"}}')

    def odd_unicode(rng: random.Random, body: bytes) -> Case:
        if rng.random() < 0.5:
            text = json.dumps(rng.choice(ODD_STRINGS))
            data = body.replace(b'"journeyId":', b'"journeyId": ' + text.encode() + b', "x":', 1)
        else:
            cut = rng.randrange(len(body))
            data = body[:cut] + rng.choice(ODD_BYTES) + body[cut:]
        return Case("odd_unicode", data)

    def duplicate_keys(rng: random.Random, body: bytes) -> Case:
        twin = rng.choice(
            [b'"event": 1, ', b'"event": "Journey Archived", ', b'"body": [], ', b'"body": {}, ']
        )
        return Case(
            "duplicate_keys",
            b"{" + twin + body[1:] if rng.random() < 0.5 else body[:-1] + b", " + twin[:-2] + b"}",
        )

    def wrong_credentials(rng: random.Random, body: bytes) -> Case:
        headers = {"Content-Type": "application/json"}
        choice = rng.randrange(7)
        if choice == 1:
            headers["Authorization"] = f"Bearer {SECRET[:-1]}"
        elif choice == 2:
            headers["Authorization"] = f"Bearer {SECRET}x"
        elif choice == 3:
            headers["Authorization"] = "Basic !!!not-base64"
        elif choice == 4:
            headers["Authorization"] = "Bearer " + "\u00e9" * 10
        elif choice == 5:
            headers["Authorization"] = "bearer"
        elif choice == 6:
            headers["Authorization"] = "Bearer " + "A" * 8000
        return Case("wrong_credentials", body, headers=headers)

    def wrong_method(rng: random.Random, body: bytes) -> Case:
        return Case("wrong_method", body, method=rng.choice(WRONG_METHODS))

    def lying_length(rng: random.Random, body: bytes) -> Case:
        choice = rng.randrange(6)
        if choice == 0:  # shorter than the body: the rest is a second, garbage request
            return Case(
                "lying_length", body, content_length=str(rng.randrange(len(body))), lying=True
            )
        if choice == 1:  # longer than the body, then the client stops sending
            return Case(
                "lying_length",
                body,
                content_length=str(len(body) + rng.randint(1, 500)),
                lying=True,
            )
        if choice == 2:
            return Case("lying_length", body, content_length="-1", lying=True)
        if choice == 3:
            return Case("lying_length", body, content_length="abc", lying=True)
        if choice == 4:
            return Case("lying_length", body, content_length=str(10**30), lying=True)
        return Case("lying_length", body, content_length=f"{len(body)}, {len(body)}", lying=True)

    return {
        f.__name__: f
        for f in (
            byte_flip, truncation, type_swap, deep_nesting, huge_number, huge_string,
            odd_unicode, duplicate_keys, wrong_credentials, wrong_method, lying_length,
        )
    }  # fmt: skip


MUTATIONS = _mutations()


def cases(count: int, *, seed: int, tag: str) -> Iterator[Case]:
    """``count`` cases from ``seed``: one in five valid, the rest mutations of a valid body."""
    rng = random.Random(seed)  # noqa: S311 -- seeded so a run can be replayed; nothing secret
    names = list(MUTATIONS)
    for number in range(count):
        body = _valid_body(rng, f"{tag}-{seed}-{number}")
        if rng.random() < 0.2:
            yield Case("valid", body)
        else:
            yield MUTATIONS[rng.choice(names)](rng, body)


def raw_request(case: Case, host: str, port: int) -> bytes:
    """The request's bytes as sent: the framing exactly as the case says, even when it lies."""
    length = str(len(case.body)) if case.content_length is None else case.content_length
    lines = [f"{case.method} {PATH} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in case.headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + case.body


def send(case: Case, host: str, port: int) -> str:
    """Send ``case`` on a new connection; its status code, or ``closed`` / ``timeout``."""
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection((host, port), timeout=TIMEOUT) as connection:
        try:
            connection.sendall(raw_request(case, host, port))
            if case.lying:  # nothing more is coming: a length longer than the body shows
                connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer (413) and close before it read everything
        answer = b""
        while b"\r\n" not in answer:
            connection.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = connection.recv(4096)
            except TimeoutError:
                return "timeout"
            except OSError:
                chunk = b""
            if not chunk:
                break
            answer += chunk
    if not answer:
        return "closed"
    parts = answer.split(b"\r\n", 1)[0].split()
    return parts[1].decode() if len(parts) > 1 else "garbled"


@dataclass
class Tally:
    """What a run saw: answers by kind of case, and every failure (capped)."""

    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def check(self, case: Case, answer: str) -> None:
        """Count the answer; note it as a failure if the case should never get it."""
        self.answers[(case.kind, answer)] += 1
        wrong = (
            answer in ("timeout", "garbled")
            or answer.startswith("5")
            or (answer == "closed" and not case.lying)
            or (case.valid and answer != "200")
            or not (answer == "closed" or answer == "200" or answer.startswith("4"))
        )
        if wrong and len(self.failures) < 50:
            self.failures.append(f"{case.kind} {case.method} -> {answer}: {case.body[:120]!r}")

    @property
    def total(self) -> int:
        """Cases answered."""
        return sum(self.answers.values())

    def by_status(self) -> Counter[str]:
        """Answers by status, whatever the kind of case."""
        statuses: Counter[str] = Counter()
        for (_, answer), count in self.answers.items():
            statuses[answer] += count
        return statuses


def fuzz_server(
    server: Server, count: int, *, seed: int, clients: int = 16
) -> tuple[Tally, int, int]:
    """Send ``count`` cases to ``server``; the tally and the memory after warm-up and at the end."""
    tally = Tally()
    all_cases = cases(count, seed=seed, tag=server.kind)

    warm = [next(all_cases) for _ in range(min(WARM_UP, count))]
    _run_cases(server, warm, tally, clients)
    warm_rss = server.rss_bytes()
    _run_cases(server, list(all_cases), tally, clients)
    return tally, warm_rss, server.rss_bytes()


def _run_cases(server: Server, batch: list[Case], tally: Tally, clients: int) -> None:
    with ThreadPoolExecutor(clients) as pool:
        for case, answer in zip(
            batch, pool.map(lambda c: send(c, server.host, server.port), batch), strict=True
        ):
            tally.check(case, answer)


def fuzz_dispatcher(count: int, *, seed: int, folder: Path) -> Tally:
    """The same cases straight into `Dispatcher.handle` (a wrong method through early_response)."""
    store = SqlStore(f"sqlite:///{folder / 'dispatcher.db'}")
    dispatcher = Dispatcher(
        verifier=BearerAuth(SECRET),
        store=store,
        lease=timedelta(seconds=30),
    )
    dispatcher.on_any(lambda event: None)
    tally = Tally()
    try:
        for case in cases(count, seed=seed, tag="dispatcher"):
            early = dispatcher.early_response(case.method, case.content_length, "127.0.0.1")
            if early is None:
                response = dispatcher.handle(WebhookRequest(case.body, case.headers, "127.0.0.1"))
            else:
                response = early
            # A lying length means nothing without a socket: judge only the status here.
            tally.check(Case(case.kind, case.body, case.method, case.headers), str(response.status))
    finally:
        store.close()
    return tally


def memory_flat(warm: int, end: int) -> bool:
    """Whether the end figure is within the stated tolerance of the warm one."""
    return end - warm <= max(RSS_TOLERANCE * warm, RSS_SLACK)


def main(argv: list[str] | None = None) -> int:
    """Run the script; 0 when every assertion held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100_000, help="cases per target")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    failed = False
    logging.getLogger("idwise_events").addHandler(logging.NullHandler())  # 100,000 lines: no
    with tempfile.TemporaryDirectory(prefix="idwise-stress-fuzz-") as name:
        folder = Path(name)
        started = time.monotonic()
        tally = fuzz_dispatcher(args.cases, seed=args.seed, folder=folder)
        failed |= _report("Dispatcher.handle", tally, time.monotonic() - started)
        for kind in KINDS:
            with serving(
                kind, store_url=f"sqlite:///{folder / f'{kind}.db'}", folder=folder,
                workers=args.workers, secret=SECRET,
            ) as server:  # fmt: skip
                started = time.monotonic()
                tally, warm, end = fuzz_server(server, args.cases, seed=args.seed)
                elapsed = time.monotonic() - started
                failed |= _report(f"{kind} x{args.workers} workers", tally, elapsed)
                flat = memory_flat(warm, end)
                print(
                    f"  memory of all {kind} processes: {warm / 2**20:.1f} MiB after {WARM_UP}"
                    f" cases, {end / 2**20:.1f} MiB at the end"
                    f" ({'flat' if flat else 'GREW'}: tolerance +{RSS_TOLERANCE:.0%}"
                    f" or {RSS_SLACK // 2**20} MiB)"
                )
                failed |= not flat
    print("FAILED" if failed else "all assertions held")
    return 1 if failed else 0


def _report(target: str, tally: Tally, elapsed: float) -> bool:
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(tally.by_status().items()))
    print(f"{target}: {tally.total} cases in {elapsed:.1f} s; answers {statuses}")
    kinds = Counter(kind for kind, _ in tally.answers.elements())
    print("  cases by kind: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))
    for failure in tally.failures:
        print(f"  FAILURE {failure}")
    return bool(tally.failures)


if __name__ == "__main__":
    sys.exit(main())
