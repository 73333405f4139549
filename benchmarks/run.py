"""Benchmarks: each figure is a ratio of two timings taken in the same run.

    python benchmarks/run.py           # full run, prints every ratio against its bar
    python benchmarks/run.py --quick   # a few short rounds, to check the script itself works

Timings on a shared machine are noisy, so each side is measured in alternating rounds and the
best round counts. The script exits 1 when a bar from DESIGN.md is missed in a full run.
Verifier rows include building the `WebhookRequest`; the PostgreSQL rows start a throwaway
server (fsync on) when the server programs are installed. The HTTP rows load a uvicorn server
with `wrk` when it is installed (a quick run only starts the server and checks its routes);
their times are seconds per request, the inverse of requests per second.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack

from auth import verifier_comparisons
from dispatch import dispatch_comparisons
from harness import Comparison, measure
from http_load import BAR as HTTP_BAR
from http_load import BY_HAND_TITLE as HTTP_BY_HAND_TITLE
from http_load import TITLE as HTTP_TITLE
from http_load import http_comparison
from imports import BAR as IMPORT_BAR
from imports import FIRST_PARSE_TITLE, import_times
from imports import TITLE as IMPORT_TITLE
from parsing import parsing_comparisons
from stores import store_comparisons


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few short rounds; bars not enforced")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 15

    missed = []
    print(f"{'comparison':66} {'subject':>10} {'baseline':>10} {'ratio':>7}  bar", flush=True)
    with ExitStack() as resources:
        comparisons: list[Comparison] = [
            *parsing_comparisons(),
            *verifier_comparisons(),
            *dispatch_comparisons(),
            *store_comparisons(resources, quick=args.quick),
        ]
        for comparison in comparisons:
            subject, baseline = measure(comparison, rounds=rounds, quick=args.quick)
            if not _row(comparison.title, subject, baseline, comparison.bar):
                missed.append(comparison.title)
    ours, pydantic, first_parse = import_times(rounds=3 if args.quick else 20)
    if not _row(IMPORT_TITLE, ours, pydantic, IMPORT_BAR):
        missed.append(IMPORT_TITLE)
    _row(FIRST_PARSE_TITLE, first_parse, 0.178, None, "  (no more than import saved)")
    http = http_comparison(rounds=5, quick=args.quick)
    if isinstance(http, str):
        print(f"{HTTP_TITLE:66} {http}", flush=True)
    else:
        adapter = 1 / http.adapter_rps
        rps = f" ({http.adapter_rps:.0f} vs {http.bare_rps:.0f} req/s)"
        if not _row(HTTP_TITLE, adapter, 1 / http.bare_rps, HTTP_BAR, rps):
            missed.append(HTTP_TITLE)
        rps = f"  ({http.adapter_rps:.0f} vs {http.by_hand_rps:.0f} req/s)"
        _row(HTTP_BY_HAND_TITLE, adapter, 1 / http.by_hand_rps, None, rps)
    if missed and not args.quick:
        print(f"missed {len(missed)} bar(s): {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def _row(title: str, subject: float, baseline: float, bar: float | None, note: str = "") -> bool:
    """Print one comparison; False if it missed its bar."""
    ratio = subject / baseline
    ok = bar is None or ratio <= bar
    verdict = "" if bar is None else f"<= {bar:.2f}x {'ok' if ok else 'MISSED'}"
    times = f"{_time(subject)} {_time(baseline)}"
    print(f"{title:66} {times} {ratio:6.2f}x  {verdict}{note}", flush=True)
    return ok


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:8.2f}us" if seconds < 1e-3 else f"{seconds * 1e3:8.2f}ms"


if __name__ == "__main__":
    sys.exit(main())
