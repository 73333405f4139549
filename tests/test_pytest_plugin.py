"""The pytest plugin, used the way a user's suite uses it: installed, not imported or configured."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_postgres_programs

ROOT = Path(__file__).parent.parent
USER_TESTS = ROOT / "docs/examples/testing_fixtures.py"


def run_pytest(
    folder: Path, *options: str, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``folder``, a project of the user's with no conftest and no configuration."""
    # Not this suite's Django project (pytest-django put it in the environment): the user's own.
    left_out = {"DJANGO_SETTINGS_MODULE", *unset}
    environment = {k: v for k, v in os.environ.items() if k not in left_out}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *options],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_users_suite_gets_the_fixtures_by_installing_the_package(tmp_path: Path) -> None:
    """The docs' fixture tests pass in a bare project: the entry point loads the plugin."""
    require_postgres_programs()
    shutil.copy(USER_TESTS, tmp_path / "test_webhooks.py")

    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_fixtures_come_from_the_plugin_and_go_with_it(tmp_path: Path) -> None:
    """With the plugin disabled (`-p no:idwise_events`) the same tests find no such fixtures."""
    shutil.copy(USER_TESTS, tmp_path / "test_webhooks.py")

    result = run_pytest(tmp_path, "-p", "no:idwise_events")

    assert result.returncode == 1
    assert "fixture 'idwise_store' not found" in result.stdout
    assert "4 errors" in result.stdout


def test_idwise_postgres_is_skipped_without_the_postgres_extra(tmp_path: Path) -> None:
    """The docs' fixture tests under the testing extra alone: skipped, saying what to install."""
    shutil.copy(USER_TESTS, tmp_path / "test_webhooks.py")
    (tmp_path / "conftest.py").write_text('import sys\n\nsys.modules["psycopg"] = None\n')

    result = run_pytest(tmp_path, "-rs", unset=("IDWISE_EVENTS_REQUIRE_POSTGRES",))  # a user's

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 1 skipped" in result.stdout
    assert "psycopg is not installed, which idwise_postgres.url needs: pip install" in result.stdout
