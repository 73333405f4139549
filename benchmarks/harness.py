"""The measuring harness: two callables timed in alternating rounds, best round kept."""

from __future__ import annotations

import timeit
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Comparison:
    """``subject`` timed against ``baseline``; ``bar`` is the highest acceptable ratio."""

    title: str
    subject: Callable[[], object]
    baseline: Callable[[], object]
    bar: float | None = None
    number: int = 20_000
    """Calls per round in a full run (a quick run makes a hundredth of them, at least one)."""
    series: tuple[str, str] | None = None
    """For the chart: the names of the subject's and the baseline's lines."""
    x: float | None = None
    """For the chart: where both points go along the x axis (a body size, a row count...)."""
    x_baseline: float | None = None
    """For the chart: the baseline's x when it differs from the subject's."""


def measure(comparison: Comparison, *, rounds: int, quick: bool) -> tuple[float, float]:
    """Seconds per call of subject and baseline, each the best of ``rounds`` rounds."""
    number = max(1, comparison.number // 100) if quick else comparison.number
    subject = baseline = float("inf")
    for _ in range(rounds):  # alternate, so a noisy moment hits both sides alike
        subject = min(subject, timeit.timeit(comparison.subject, number=number) / number)
        baseline = min(baseline, timeit.timeit(comparison.baseline, number=number) / number)
    return subject, baseline
