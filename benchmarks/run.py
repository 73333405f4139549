"""Benchmarks: each figure is a ratio of two timings taken in the same run, on the same body.

The verifier rows have no bar: they show each verifier's per-request cost (building the
`WebhookRequest` from realistic headers included) next to parsing the same body.

    python benchmarks/run.py           # full run, prints every ratio against its bar
    python benchmarks/run.py --quick   # a few rounds, to check the script itself works

Timings on a shared machine are noisy, so each side is measured in alternating rounds and the
best round counts. The script exits 1 when a bar from DESIGN.md is missed in a full run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter

from idwise_events import (
    BasicAuth,
    BearerAuth,
    FinishedJourney,
    HeaderAuth,
    IpAllowlist,
    NoAuth,
    Verifier,
    WebhookRequest,
    parse_event,
)
from idwise_events.testing import auth_headers, make_event

CURRENT = make_event(FinishedJourney).model_dump_json(by_alias=True, exclude_none=True).encode()
LEGACY = make_event(FinishedJourney, event_id=None, manual_decision="Approved").model_dump_json(
    by_alias=True
)
UNKNOWN = json.dumps({"event": "Journey Archived", "body": {"eventId": "e-1", "a": 1}}).encode()


@dataclass
class Comparison:
    """``subject`` timed against ``baseline``; ``bar`` is the highest acceptable ratio."""

    title: str
    subject: Callable[[], object]
    baseline: Callable[[], object]
    bar: float | None = None


def best_of(func: Callable[[], object], number: int) -> float:
    """Seconds per call in the best of one round of ``number`` calls."""
    return timeit.timeit(func, number=number) / number


def measure(comparison: Comparison, rounds: int, number: int) -> tuple[float, float]:
    subject = baseline = float("inf")
    for _ in range(rounds):  # alternate, so a noisy moment hits both sides alike
        subject = min(subject, best_of(comparison.subject, number))
        baseline = min(baseline, best_of(comparison.baseline, number))
    return subject, baseline


def verifier_comparisons() -> list[Comparison]:
    """One row per verifier: ``verify`` on a fresh request, as a dispatcher would call it."""
    token, key = "kqX0c2VjcmV0LXRva2VuLWZvci1iZW5jaG1hcmtz", "7f3e9b1c5d2a4e6f8091a2b3c4d5e6f7"
    # NoAuth warns that it is unauthenticated; here that is the point, so keep stderr quiet.
    logging.getLogger("idwise_events").addHandler(logging.NullHandler())
    verifiers: list[tuple[str, Verifier]] = [
        ("NoAuth", NoAuth()),
        ("BasicAuth", BasicAuth("idwise", "correct-horse-battery-staple")),
        ("BearerAuth", BearerAuth([token, "previous-token-during-rotation"])),
        ("HeaderAuth", HeaderAuth({"X-Api-Key": key, "X-Tenant": "acme"})),
        ("IpAllowlist", IpAllowlist(["203.0.113.0/24", "2001:db8::/32"], trusted_proxies=1)),
        (
            "AllOf(Bearer, Header, IpAllowlist)",
            BearerAuth(token)
            & HeaderAuth({"X-Api-Key": key})
            & IpAllowlist(["203.0.113.0/24"], trusted_proxies=1),
        ),
    ]
    rows = []
    for name, verifier in verifiers:
        headers = {
            "Host": "hooks.example.com",
            "User-Agent": "IDWise-Webhooks",
            "Content-Type": "application/json",
            "Content-Length": str(len(CURRENT)),
            "Accept-Encoding": "gzip",
            "X-Forwarded-For": "203.0.113.9",
            **auth_headers(verifier),
        }
        verify = verify_fresh_request(verifier, headers)
        verify()  # the headers must pass, or the row would time an exception
        rows.append(
            Comparison(f"{name}.verify / parse_event(bytes)", verify, lambda: parse_event(CURRENT))
        )
    return rows


def verify_fresh_request(verifier: Verifier, headers: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        verifier.verify(WebhookRequest(CURRENT, headers, "10.0.0.2"))

    return run


def comparisons() -> list[Comparison]:
    one_model = TypeAdapter(FinishedJourney)  # a bare cached adapter for the one right model
    return [
        Comparison(
            "parse_event(bytes) / TypeAdapter(FinishedJourney).validate_json",
            lambda: parse_event(CURRENT),
            lambda: one_model.validate_json(CURRENT),
            bar=1.2,
        ),
        Comparison(
            "parse_event(bytes) / json.loads + FinishedJourney.model_validate",
            lambda: parse_event(CURRENT),
            lambda: FinishedJourney.model_validate(json.loads(CURRENT)),
            bar=0.5,  # at least 2x faster
        ),
        Comparison(
            "parse_event(str) / parse_event(bytes)",
            lambda: parse_event(CURRENT.decode()),
            lambda: parse_event(CURRENT),
        ),
        Comparison(
            "parse_event(unknown event) / parse_event(known event)",
            lambda: parse_event(UNKNOWN),
            lambda: parse_event(CURRENT),
        ),
        Comparison(
            "legacy parse + idempotency_key / parse_event(bytes)",
            lambda: parse_event(LEGACY).idempotency_key,
            lambda: parse_event(CURRENT),
        ),
        *verifier_comparisons(),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds; bars not enforced")
    args = parser.parse_args(argv)
    rounds, number = (2, 200) if args.quick else (15, 20_000)

    missed = []
    print(f"{'comparison':66} {'subject':>10} {'baseline':>10} {'ratio':>7}  bar")
    for comparison in comparisons():
        subject, baseline = measure(comparison, rounds, number)
        ratio = subject / baseline
        verdict = ""
        if comparison.bar is not None:
            ok = ratio <= comparison.bar
            verdict = f"<= {comparison.bar:.2f}x {'ok' if ok else 'MISSED'}"
            if not ok:
                missed.append(comparison.title)
        print(
            f"{comparison.title:66} {subject * 1e6:8.2f}us {baseline * 1e6:8.2f}us"
            f" {ratio:6.2f}x  {verdict}"
        )
    if missed and not args.quick:
        print(f"missed {len(missed)} bar(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
