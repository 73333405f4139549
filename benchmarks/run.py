"""Benchmarks: each figure is a ratio of two timings taken in the same run, in one table.

    python benchmarks/run.py           # full run: prints the table, writes docs/performance.md
    python benchmarks/run.py --quick   # a few short rounds, to check the script itself works

Timings on a shared machine are noisy, so each side is measured in alternating rounds and the
best round counts. The script exits 1 when a bar from DESIGN.md is missed in a full run.
Verifier rows include building the `WebhookRequest`; the PostgreSQL rows start a throwaway
server (fsync on) when the server programs are installed. The HTTP rows load real servers with
`wrk` when it is installed (a quick run only starts each server and checks its routes); their
times are seconds per request, the inverse of requests per second.

A full run also writes what it measured into the docs: the table and the machine between the
markers of docs/performance.md, and the chart as docs/performance.svg (``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from adapters_http import adapter_http_rows
from auth import verifier_comparisons
from chart import svg
from dispatch import dispatch_comparisons
from fastapi_load import BAR as FASTAPI_BAR
from fastapi_load import BY_HAND_TITLE as FASTAPI_BY_HAND_TITLE
from fastapi_load import TITLE as FASTAPI_TITLE
from fastapi_load import fastapi_comparison
from harness import Comparison, measure
from http_load import BAR as HTTP_BAR
from http_load import BY_HAND_TITLE as HTTP_BY_HAND_TITLE
from http_load import HOP_TITLE, PLAIN_BAR, PLAIN_TITLE, TO_THREAD_TITLE, http_comparison
from http_load import TITLE as HTTP_TITLE
from imports import BAR as IMPORT_BAR
from imports import FIRST_PARSE_TITLE, ONE_MODEL_TITLE, import_times
from imports import TITLE as IMPORT_TITLE
from parsing import parsing_comparisons
from peers import peer_comparisons
from scaling import body_size_comparisons, sized_bodies, stored_rows_comparisons
from stores import store_comparisons

DOCS = Path(__file__).parent.parent / "docs"
PAGE = DOCS / "performance.md"
CHART = DOCS / "performance.svg"
START, END = "<!-- benchmark results: start -->", "<!-- benchmark results: end -->"


@dataclass
class Row:
    """One line of the table."""

    section: str
    title: str
    subject: float = 0.0
    baseline: float = 0.0
    bar: float | None = None
    note: str = ""
    skipped: str = ""

    @property
    def ratio(self) -> float:
        """Subject over baseline: below 1 means the subject is faster."""
        return self.subject / self.baseline

    @property
    def ok(self) -> bool:
        """Whether the row meets its bar (a skipped row or one without a bar always does)."""
        return self.skipped != "" or self.bar is None or self.ratio <= self.bar


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few short rounds; bars not enforced")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs page")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 15
    # Rejected bodies log warnings; a benchmark's output is its table.
    logging.getLogger("idwise_events").addHandler(logging.NullHandler())
    logging.getLogger("idwise_events").propagate = False

    started = time.monotonic()
    rows: list[Row] = []
    points: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    print(f"{'comparison':66} {'subject':>10} {'baseline':>10} {'ratio':>7}  bar", flush=True)
    with ExitStack() as resources:
        peers, peers_skipped = peer_comparisons(sized_bodies())
        sections: list[tuple[str, list[Comparison]]] = [
            ("parse", parsing_comparisons()),
            ("verify", verifier_comparisons()),
            ("dispatch", dispatch_comparisons()),
            ("stores", store_comparisons(resources, quick=args.quick)),
            ("body size", body_size_comparisons()),
            ("stored records", stored_rows_comparisons(resources, quick=args.quick)),
            ("peers", peers),
        ]
        for section, comparisons in sections:
            for comparison in comparisons:
                subject, baseline = measure(comparison, rounds=rounds, quick=args.quick)
                rows.append(
                    _print(Row(section, comparison.title, subject, baseline, comparison.bar))
                )
                _plot(points, comparison, subject, baseline)
        for reason in peers_skipped:
            title, why = reason.split(": ", 1)
            rows.append(_print(Row("peers", title, skipped=why)))
    ours, pydantic, first_parse, one_model = import_times(rounds=3 if args.quick else 20)
    rows.append(_print(Row("import", IMPORT_TITLE, ours, pydantic, IMPORT_BAR)))
    rows.append(_print(Row("import", ONE_MODEL_TITLE, one_model, pydantic, None)))
    rows.append(_print(Row("import", FIRST_PARSE_TITLE, first_parse, ours, None)))
    rows += _http_rows(rounds=5 if not args.quick else 1, quick=args.quick)

    missed = [row.title for row in rows if not row.ok]
    elapsed = time.monotonic() - started
    print(f"measured in {elapsed / 60:.1f} minutes on {machine()}", flush=True)
    if not args.quick and not args.no_docs:
        write_docs(rows, points, elapsed)
        print(f"wrote {PAGE.relative_to(PAGE.parent.parent)} and {CHART.name}", flush=True)
    if missed and not args.quick:
        print(f"missed {len(missed)} bar(s): {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def _http_rows(*, rounds: int, quick: bool) -> list[Row]:
    rows = []
    http = http_comparison(rounds=rounds, quick=quick)
    if isinstance(http, str):
        rows.append(_print(Row("HTTP", HTTP_TITLE, skipped=http)))
    else:
        adapter = 1 / http.adapter_rps
        rps = f"({http.adapter_rps:.0f} vs {http.bare_rps:.0f} req/s)"
        rows.append(_print(Row("HTTP", HTTP_TITLE, adapter, 1 / http.bare_rps, HTTP_BAR, rps)))
        if http.plain_rps is not None:
            rps = f"({http.plain_rps:.0f} vs {http.bare_rps:.0f} req/s)"
            plain = 1 / http.plain_rps
            rows.append(_print(Row("HTTP", PLAIN_TITLE, plain, 1 / http.bare_rps, PLAIN_BAR, rps)))
        for title, hop_rps in ((HOP_TITLE, http.hop_rps), (TO_THREAD_TITLE, http.to_thread_rps)):
            if hop_rps is not None:  # the least a thread trip costs, for the row above
                rps = f"({hop_rps:.0f} vs {http.bare_rps:.0f} req/s)"
                rows.append(_print(Row("HTTP", title, 1 / hop_rps, 1 / http.bare_rps, None, rps)))
        rps = f"({http.adapter_rps:.0f} vs {http.by_hand_rps:.0f} req/s)"
        by_hand = 1 / http.by_hand_rps
        rows.append(_print(Row("HTTP", HTTP_BY_HAND_TITLE, adapter, by_hand, None, rps)))
    fastapi = fastapi_comparison(rounds=rounds, quick=quick)
    if isinstance(fastapi, str):
        rows.append(_print(Row("HTTP", FASTAPI_TITLE, skipped=fastapi)))
    else:
        router, bare = 1 / fastapi.adapter_rps, 1 / fastapi.bare_rps
        rps = f"({fastapi.adapter_rps:.0f} vs {fastapi.bare_rps:.0f} req/s)"
        rows.append(_print(Row("HTTP", FASTAPI_TITLE, router, bare, FASTAPI_BAR, rps)))
        rps = f"({fastapi.adapter_rps:.0f} vs {fastapi.by_hand_rps:.0f} req/s)"
        by_hand = 1 / fastapi.by_hand_rps
        rows.append(_print(Row("HTTP", FASTAPI_BY_HAND_TITLE, router, by_hand, None, rps)))
    for measured in adapter_http_rows(rounds=max(1, rounds - 2), quick=quick):
        title = f"{measured.target.title} (wrk, plain def handler)"
        if measured.skipped:
            rows.append(_print(Row("HTTP", title, skipped=measured.skipped)))
        else:
            rps = f"({measured.adapter_rps:.0f} vs {measured.bare_rps:.0f} req/s)"
            adapter, bare = 1 / measured.adapter_rps, 1 / measured.bare_rps
            rows.append(_print(Row("HTTP", title, adapter, bare, None, rps)))
    return rows


def _print(row: Row) -> Row:
    """Print one row as it is measured (the test of this script reads these lines)."""
    if row.skipped:
        print(f"{row.title:66} {row.skipped}", flush=True)
        return row
    verdict = "" if row.bar is None else f"<= {row.bar:.2f}x {'ok' if row.ok else 'MISSED'}"
    note = f"  {row.note}" if row.note else ""
    times = f"{_time(row.subject)} {_time(row.baseline)}"
    print(f"{row.title:66} {times} {row.ratio:6.2f}x  {verdict}{note}", flush=True)
    return row


def _plot(points: dict[str, dict[str, list[tuple[float, float]]]], comparison: Comparison,
          subject: float, baseline: float) -> None:  # fmt: skip
    if comparison.series is None or comparison.x is None:
        return
    panel = "rows" if comparison.series[0].startswith("SqlStore") else "size"
    x_baseline = comparison.x if comparison.x_baseline is None else comparison.x_baseline
    for name, x, seconds in ((comparison.series[0], comparison.x, subject),
                             (comparison.series[1], x_baseline, baseline)):  # fmt: skip
        same_x = [p for p in points[panel][name] if p[0] == x]
        if same_x:  # measured twice (ours against each peer): keep the best, as for rounds
            points[panel][name].remove(same_x[0])
            seconds = min(seconds, same_x[0][1])
        points[panel][name].append((x, seconds))


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:8.2f}us" if seconds < 1e-3 else f"{seconds * 1e3:8.2f}ms"


def machine() -> str:
    """Cores, CPU model, Python and OS: what the figures depend on."""
    model = platform.processor() or "unknown CPU"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = found.group(1).strip() if found else model
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}"
    )


def write_docs(rows: list[Row], points: dict[str, dict[str, list[tuple[float, float]]]],
               elapsed: float) -> None:  # fmt: skip
    """The table and machine into docs/performance.md (between its markers), the chart beside it."""
    wrk = shutil.which("wrk")
    wrk_version = "not installed: the HTTP rows were skipped"
    if wrk:
        result = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
        wrk_version = (result.stdout or result.stderr).split("\n")[0].split(" Copyright")[0]
    lines = [
        START,
        "",
        f"Measured on {machine()}, in {elapsed / 60:.0f} minutes"
        f" ({time.strftime('%Y-%m-%d')}); wrk: {wrk_version}.",
        "",
        "| section | comparison (subject / baseline) | subject | baseline | ratio | bar |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        title = row.title.replace("|", "\\|")
        if row.skipped:
            lines.append(f"| {row.section} | {title} | | | | {row.skipped} |")
            continue
        bar = "" if row.bar is None else f"<= {row.bar:.2f}x {'ok' if row.ok else '**missed**'}"
        note = f" {row.note}" if row.note else ""
        lines.append(
            f"| {row.section} | {title}{note} | {_time(row.subject).strip()}"
            f" | {_time(row.baseline).strip()} | {row.ratio:.2f}x | {bar} |"
        )
    lines += ["", END]
    page = PAGE.read_text()
    before, rest = page.split(START, 1)
    after = rest.split(END, 1)[1]
    PAGE.write_text(before + "\n".join(lines) + after)
    CHART.write_text(
        svg(
            [
                ("Cost per delivery by body size", "body size (bytes)", points["size"]),
                (
                    "SqlStore claim+complete by stored records",
                    "records already stored",
                    points["rows"],
                ),
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
