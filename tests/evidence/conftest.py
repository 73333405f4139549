"""The short versions of the stress scripts (stress/): real servers, real PostgreSQL, in CI.

They run once per CI run, on the Python that proves PostgreSQL: the other Pythons set
IDWISE_EVENTS_SKIP_POSTGRES=1 and skip them (their servers are the same code on every Python).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REQUIRE_POSTGRES, SKIP_POSTGRES

once = pytest.mark.skipif(
    SKIP_POSTGRES and not REQUIRE_POSTGRES,
    reason="IDWISE_EVENTS_SKIP_POSTGRES=1: evidence runs once, on the Python proving PostgreSQL",
)
"""Run a test in one CI pass only (it starts servers and takes seconds)."""

# The scripts live in stress/ at the repository's root: a copy of the tests without them (an
# sdist that does not ship stress/) has nothing to run here.
if not (Path(__file__).parent.parent.parent / "stress" / "__init__.py").exists():
    collect_ignore_glob = ["test_*.py", "django_urls.py"]
