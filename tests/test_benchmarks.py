"""The benchmark script runs (its timings are read by people, never asserted in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_benchmark_script_runs() -> None:
    """benchmarks/run.py works and prints every row (a quick run; timings are not checked here)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/run.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "parse_event(bytes) / TypeAdapter(FinishedJourney).validate_json" in result.stdout
    for verifier in ["NoAuth", "BasicAuth", "BearerAuth", "HeaderAuth", "IpAllowlist", "AllOf("]:
        assert f"\n{verifier}" in result.stdout
    rows = result.stdout.splitlines()
    glue = [row for row in rows if row.startswith("Dispatcher.handle / ")]
    assert len(glue) == 1
    assert glue[0].endswith("<= 1.25x ok") or glue[0].endswith("<= 1.25x MISSED")
    http = [row for row in rows if row.startswith("Starlette adapter under uvicorn / ")]
    assert len(http) == 1
    # A quick run never loads the server with wrk, but it starts it and checks its routes.
    assert http[0].endswith("skipped (--quick: wrk runs take seconds)") or http[0].endswith(
        "skipped (wrk not installed)"
    )
    assert result.stderr == ""
