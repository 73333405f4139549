"""TemporaryPostgres finds the server programs where Debian puts them when they are not on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from idwise_events.testing.postgres import postgres_programs_available, postgres_unavailable_reason
from tests.conftest import REQUIRE_POSTGRES, require_postgres_programs

DEBIAN_PROGRAMS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))

# Run in a child process whose PATH has neither initdb nor pg_ctl: it says which initdb it
# found, then starts the server and queries it.
START_AND_QUERY = """
import psycopg
from idwise_events.testing.postgres import (
    TemporaryPostgres, find_postgres_program, postgres_programs_available,
)

assert postgres_programs_available()
print(find_postgres_program("initdb"))
with TemporaryPostgres() as server:
    with psycopg.connect(server.url.replace("+psycopg", ""), connect_timeout=10) as connection:
        print(connection.execute("select 6 * 7").fetchone()[0])
"""


@pytest.fixture
def bare_path(tmp_path: Path) -> Path:
    """A PATH folder without the server programs (only `runuser`, which root needs for them)."""
    require_postgres_programs()
    if not DEBIAN_PROGRAMS:
        if REQUIRE_POSTGRES:
            pytest.fail("no /usr/lib/postgresql/*/bin/initdb, and CI requires PostgreSQL")
        pytest.skip("the PostgreSQL server programs are not where Debian installs them")
    folder = tmp_path / "bin"
    folder.mkdir()
    runuser = shutil.which("runuser")
    if runuser is not None:
        (folder / "runuser").symlink_to(runuser)
    return folder


def start_with_path(folder: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", START_AND_QUERY],
        env={**os.environ, "PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_it_takes_the_newest_version_under_usr_lib_postgresql(bare_path: Path) -> None:
    """With neither the programs nor pg_config on PATH, /usr/lib/postgresql/N/bin is used."""
    found, answer = start_with_path(bare_path)

    newest = max(DEBIAN_PROGRAMS, key=lambda path: int(path.parent.parent.name.split(".")[0]))
    assert found == str(newest)
    assert answer == "42"


def test_it_asks_pg_config_for_the_folder_first(bare_path: Path) -> None:
    """`pg_config --bindir` wins over the newest folder: it names the version the system uses."""
    # Outside pytest's private tmp_path: under root, the `postgres` user runs these programs.
    with tempfile.TemporaryDirectory(prefix="idwise-events-pg-bin-") as folder:
        os.chmod(folder, 0o755)  # noqa: S103 -- other users must reach the programs, as in /usr
        found, answer = pg_config_answer(bare_path, Path(folder))

    assert found == str(Path(folder) / "initdb")
    assert answer == "42"


def pg_config_answer(bare_path: Path, chosen: Path) -> list[str]:
    """Start the server with a pg_config on PATH whose --bindir is ``chosen``."""
    for program in DEBIAN_PROGRAMS[-1].parent.iterdir():
        (chosen / program.name).symlink_to(program)
    pg_config = bare_path / "pg_config"
    pg_config.write_text(f'#!/bin/sh\n[ "$1" = --bindir ] && echo {chosen}\n')
    pg_config.chmod(0o755)
    return start_with_path(bare_path)


def test_the_reason_names_the_missing_programs_and_where_they_were_looked_for(
    tmp_path: Path,
) -> None:
    """An empty bin_dir: both programs are named, with that folder."""
    reason = postgres_unavailable_reason(str(tmp_path))

    assert reason == (f"the PostgreSQL server programs initdb, pg_ctl were not found in {tmp_path}")
    assert not postgres_programs_available(str(tmp_path))


FIND_RUNUSER = """
from idwise_events.testing.postgres import postgres_unavailable_reason
print(postgres_unavailable_reason())
"""


def test_as_root_runuser_is_found_in_usr_sbin_when_path_lacks_it(tmp_path: Path) -> None:
    """A root shell whose PATH lacks /usr/sbin still runs the server (runuser is found there)."""
    if os.geteuid() != 0 or not Path("/usr/sbin/runuser").exists() or not DEBIAN_PROGRAMS:
        pytest.skip("needs root, /usr/sbin/runuser and /usr/lib/postgresql/*/bin")
    folder = tmp_path / "bin"
    folder.mkdir()

    result = subprocess.run(
        [sys.executable, "-c", FIND_RUNUSER],
        env={**os.environ, "PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "None\n"
