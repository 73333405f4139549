"""Exactly once over HTTP: 300 events, 3 concurrent copies each, 4 worker processes, PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from stress import effects
from stress.exactly_once import HANDLER_DELAY, SECRET, report, run
from stress.servers import KINDS, serving

from idwise_events.testing.postgres import TemporaryPostgres
from tests.conftest import postgres_url

from .conftest import once

EVENTS = 300


@once
@pytest.mark.parametrize("kind", KINDS)
def test_every_event_is_processed_exactly_once_and_none_is_lost(
    kind: str, postgres: TemporaryPostgres | str, tmp_path: Path
) -> None:
    """Each handler ran once per event (a row in PostgreSQL says so), every delivery got 200."""
    if isinstance(postgres, str):
        pytest.skip("needs the suite's own PostgreSQL server (its port, for the side effects)")
    info = effects.conninfo(postgres.port)
    effects.create(info)
    env = {"STRESS_EFFECTS": info, "STRESS_HANDLER_DELAY": str(HANDLER_DELAY)}
    with serving(
        kind, store_url=postgres_url(postgres), folder=tmp_path, workers=4, secret=SECRET, env=env
    ) as server:
        result = run(server, info, events=EVENTS, copies=3, clients=16, seed=4, budget=120)
    assert report(kind, result) == []
    assert result.run_counts == {1: EVENTS}
