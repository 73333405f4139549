"""The pytest plugin: fixtures to test webhook handlers with, there once idwise-events is installed.

pytest loads it through the ``pytest11`` entry point, so a test asks for a fixture by name and
needs no import or ``conftest.py``:

```python
from idwise_events import BearerAuth, Dispatcher
from idwise_events.testing import build_request, make_event

def test_a_retry_runs_the_handler_once(idwise_store, idwise_handler):
    dispatcher = Dispatcher(verifier=BearerAuth("test-token"), store=idwise_store)
    dispatcher.on_any(idwise_handler)
    request = build_request(make_event("Finished Journey"), dispatcher.verifier)
    assert [dispatcher.handle(request).status for _ in "12"] == [200, 200]
    assert len(idwise_handler.events) == 1
```

Every fixture name starts with ``idwise_``, so none can clash with a suite's own. Disable the
plugin with ``-p no:idwise_events``. The module imports only pytest at load time; each fixture
imports what it needs when a test asks for it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .. import MemoryStore
    from . import FakeClock, RecordingHandler
    from .postgres import TemporaryPostgres

__all__ = ["idwise_clock", "idwise_handler", "idwise_postgres", "idwise_store"]

# Set to 1 (in CI) to fail, rather than skip, what needs idwise_postgres where it cannot run.
_REQUIRE_POSTGRES = "IDWISE_EVENTS_REQUIRE_POSTGRES"


@pytest.fixture
def idwise_clock() -> FakeClock:
    """A [`FakeClock`][idwise_events.testing.FakeClock]: the time the test says it is.

    ``idwise_store`` runs on it: ``idwise_clock.advance(minutes=6)`` expires a five-minute lease.
    """
    from . import FakeClock

    return FakeClock()


@pytest.fixture
def idwise_store(idwise_clock: FakeClock) -> MemoryStore:
    """A fresh [`MemoryStore`][idwise_events.MemoryStore] on ``idwise_clock``, for a Dispatcher."""
    from .. import MemoryStore

    return MemoryStore(clock=idwise_clock)


@pytest.fixture
def idwise_handler() -> RecordingHandler:
    """A [`RecordingHandler`][idwise_events.testing.RecordingHandler] to register as a handler."""
    from . import RecordingHandler

    return RecordingHandler()


@pytest.fixture(scope="session")
def idwise_postgres() -> Iterator[TemporaryPostgres]:
    """A throwaway PostgreSQL server for the test session (`TemporaryPostgres`), on loopback.

    Use ``idwise_postgres.url`` with [`SqlStore`][idwise_events.stores.sql.SqlStore] (needs
    ``pip install "idwise-events[postgres]"``). Tests that ask for it are skipped on a machine
    without the server programs or without that extra, or fail there when
    ``IDWISE_EVENTS_REQUIRE_POSTGRES=1``.
    """
    from .postgres import TemporaryPostgres, postgres_unavailable_reason

    reason = postgres_unavailable_reason() or _missing_driver()
    if reason is not None:
        if os.environ.get(_REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{reason}, and {_REQUIRE_POSTGRES}=1 requires them")
        pytest.skip(reason)
    with TemporaryPostgres() as server:
        yield server


def _missing_driver() -> str | None:
    """What the store on ``idwise_postgres.url`` lacks to connect, if anything is not installed."""
    missing = [name for name in ("sqlalchemy", "psycopg") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed, which"
        ' idwise_postgres.url needs: pip install "idwise-events[postgres]"'
    )
