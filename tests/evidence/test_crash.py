"""A worker killed mid-handler: not acknowledged; the retry after the lease processes it once."""

from __future__ import annotations

from pathlib import Path

import pytest
from stress import effects
from stress.crash import LEASE, SECRET, crash_events
from stress.servers import KINDS, serving

from idwise_events.testing.postgres import TemporaryPostgres
from tests.conftest import postgres_url

from .conftest import once


@once
@pytest.mark.parametrize("kind", KINDS)
def test_a_killed_worker_s_event_runs_once_after_its_lease(
    kind: str, postgres: TemporaryPostgres | str, tmp_path: Path
) -> None:
    """No 200 for the killed delivery, 409 during the lease, one run after it."""
    if isinstance(postgres, str):
        pytest.skip("needs the suite's own PostgreSQL server (its port, for the side effects)")
    info = effects.conninfo(postgres.port)
    effects.create(info)
    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    env = {"STRESS_EFFECTS": info, "STRESS_CRASH_DIR": str(crash_dir), "STRESS_LEASE": str(LEASE)}
    with serving(
        kind, store_url=postgres_url(postgres), folder=tmp_path, workers=2, secret=SECRET, env=env
    ) as server:
        assert crash_events(server, info, crash_dir, 2) == []
