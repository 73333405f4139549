"""The benchmark script runs (its timings are read by people, never asserted in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_benchmark_script_runs() -> None:
    """benchmarks/run.py works (a quick run; its timings are not checked here)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/run.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "parse_event(bytes) / TypeAdapter(FinishedJourney).validate_json" in result.stdout
    for verifier in ["NoAuth", "BasicAuth", "BearerAuth", "HeaderAuth", "IpAllowlist", "AllOf("]:
        assert f"\n{verifier}" in result.stdout
    assert result.stderr == ""
