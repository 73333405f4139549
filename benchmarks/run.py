"""Benchmarks: each figure is a ratio of two timings taken in the same run.

    python benchmarks/run.py           # full run, prints every ratio against its bar
    python benchmarks/run.py --quick   # a few short rounds, to check the script itself works

Timings on a shared machine are noisy, so each side is measured in alternating rounds and the
best round counts. The script exits 1 when a bar from DESIGN.md is missed in a full run.
Verifier rows include building the `WebhookRequest`; the PostgreSQL rows start a throwaway
server (fsync on) when the server programs are installed.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack

from auth import verifier_comparisons
from harness import Comparison, measure
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
            *store_comparisons(resources),
        ]
        for comparison in comparisons:
            subject, baseline = measure(comparison, rounds=rounds, quick=args.quick)
            ratio = subject / baseline
            verdict = ""
            if comparison.bar is not None:
                ok = ratio <= comparison.bar
                verdict = f"<= {comparison.bar:.2f}x {'ok' if ok else 'MISSED'}"
                if not ok:
                    missed.append(comparison.title)
            times = f"{_time(subject)} {_time(baseline)}"
            print(f"{comparison.title:66} {times} {ratio:6.2f}x  {verdict}", flush=True)
    if missed and not args.quick:
        print(f"missed {len(missed)} bar(s): {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:8.2f}us" if seconds < 1e-3 else f"{seconds * 1e3:8.2f}ms"


if __name__ == "__main__":
    sys.exit(main())
