"""2,000 generated and mutated deliveries through the dispatcher, uvicorn and gunicorn."""

from __future__ import annotations

from pathlib import Path

import pytest
from stress.fuzz import SECRET, Tally, cases, fuzz_dispatcher, fuzz_server, memory_flat
from stress.servers import KINDS, serving

from .conftest import once

CASES = 2000


def test_the_cases_cover_every_mutation_and_valid_deliveries() -> None:
    """The generator makes every kind of case, so a green run means every kind was sent."""
    kinds = {case.kind for case in cases(CASES, seed=1, tag="t")}
    assert {"valid", "byte_flip", "lying_length", "wrong_method", "deep_nesting"} <= kinds
    assert len(kinds) == 12


def test_the_tally_fails_a_500_a_hang_and_a_refused_valid_delivery() -> None:
    """The checks that the fuzz runs rely on do fail on what they must catch."""
    tally = Tally()
    valid = next(case for case in cases(40, seed=3, tag="t") if case.valid)
    for answer in ("500", "timeout", "closed", "400"):
        tally.check(valid, answer)
    assert len(tally.failures) == 4


def test_dispatcher_answers_every_fuzzed_body_with_200_or_4xx(tmp_path: Path) -> None:
    """In process: no exception, no 5xx, valid deliveries processed."""
    tally = fuzz_dispatcher(CASES, seed=2, folder=tmp_path)
    assert tally.total == CASES
    assert not tally.failures, tally.failures
    assert tally.by_status()["200"] >= CASES // 10


@once
@pytest.mark.parametrize("kind", KINDS)
def test_server_answers_every_fuzzed_request_with_200_or_4xx_and_memory_stays_flat(
    kind: str, tmp_path: Path
) -> None:
    """Over raw sockets: never a 5xx, never a hang; the servers' memory flat."""
    with serving(
        kind, store_url=f"sqlite:///{tmp_path / 'events.db'}", folder=tmp_path, workers=2,
        secret=SECRET,
    ) as server:  # fmt: skip
        tally, warm, end = fuzz_server(server, CASES, seed=3)
    assert tally.total == CASES
    assert not tally.failures, tally.failures
    statuses = tally.by_status()
    for status in ("200", "400", "401", "405", "413"):
        assert statuses[status], statuses
    assert memory_flat(warm, end), (warm, end)
