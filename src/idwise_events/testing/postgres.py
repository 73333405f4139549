"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` on loopback.

```python
from idwise_events.stores.sql import SqlStore
from idwise_events.testing.postgres import TemporaryPostgres

with TemporaryPostgres() as server:
    store = SqlStore(server.url)
    ...
```

Needs the PostgreSQL server programs (``initdb``, ``pg_ctl``): in ``bin_dir`` if given, else on
``PATH``, else where Debian and Ubuntu install them outside ``PATH`` (``pg_config --bindir``, then
the newest ``/usr/lib/postgresql/*/bin``). The server refuses to run as root, so under root it runs
as the ``postgres`` user (through ``runuser``, also found in /usr/sbin and /sbin when PATH lacks
them). It listens on 127.0.0.1 only, on a free port, with trust authentication, and its data
directory is deleted when it is closed. `postgres_unavailable_reason` says what is missing, and
where it was looked for.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "TemporaryPostgres",
    "find_postgres_program",
    "postgres_programs_available",
    "postgres_unavailable_reason",
]

_SERVER_USER = "postgres"
_SERVER_PROGRAMS = ("initdb", "pg_ctl")
# Where runuser lives when a shell's PATH lacks the sbin folders (a plain user's PATH, sudo -E...).
_SBIN_DIRS = ("/usr/sbin", "/sbin")


def find_postgres_program(name: str, bin_dir: str | None = None) -> str | None:
    """Where `TemporaryPostgres` finds the server program ``name`` (``initdb``, ``pg_ctl``...).

    In ``bin_dir`` if given; else on ``PATH``, then in ``pg_config --bindir``, then in the newest
    ``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu keep them there). ``None`` if nowhere.
    """
    return _program(name, bin_dir)


def postgres_programs_available(bin_dir: str | None = None) -> bool:
    """True if ``initdb`` and ``pg_ctl`` can be found (and, as root, ``runuser`` and the user).

    `postgres_unavailable_reason` says what is missing when it is False.
    """
    return postgres_unavailable_reason(bin_dir) is None


def postgres_unavailable_reason(bin_dir: str | None = None) -> str | None:
    """What `TemporaryPostgres` lacks to run here, and where it looked; ``None`` if nothing.

    For a test's skip message: ``"initdb, pg_ctl not found in PATH (...), pg_config --bindir,
    /usr/lib/postgresql/*/bin"``, or, as root, that ``runuser`` or the ``postgres`` user is
    missing.
    """
    missing = [name for name in _SERVER_PROGRAMS if _program(name, bin_dir) is None]
    if missing:
        where = bin_dir if bin_dir is not None else _search_path()
        return f"the PostgreSQL server programs {', '.join(missing)} were not found in {where}"
    if not _is_root():
        return None
    if _runuser() is None:
        folders = ", ".join(_SBIN_DIRS)
        return (
            f"as root the server runs as the {_SERVER_USER!r} user through runuser, which was"
            f" not found on PATH ({os.environ.get('PATH', '')}) nor in {folders}"
        )
    if not _user_exists(_SERVER_USER):
        return f"as root the server runs as the {_SERVER_USER!r} user, and there is no such user"
    return None


class TemporaryPostgres:
    """A PostgreSQL server in a temporary directory, started on enter and removed on exit.

    Args:
        fsync: Keep PostgreSQL's durability settings. Off by default: a throwaway test server
            need not survive a power cut, and tests run faster without it. Benchmarks should
            pass ``True`` so that they measure what production does.
        bin_dir: Where the server programs are; by default ``PATH``, then Debian's places.
        start_timeout: Seconds to wait for the server to accept connections.
    """

    def __init__(
        self, *, fsync: bool = False, bin_dir: str | None = None, start_timeout: int = 60
    ) -> None:
        self.fsync = fsync
        self.bin_dir = bin_dir
        self.start_timeout = start_timeout
        self.port: int = 0
        self._dir: Path | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's ``postgres`` database (psycopg driver)."""
        return f"postgresql+psycopg://{_SERVER_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._dir is not None and (self._dir / "data" / "postmaster.pid").exists()

    def start(self) -> None:
        """Create the cluster on first use, then start the server (on a new free port)."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="idwise-events-pg-"))
            if _is_root():
                shutil.chown(self._dir, user=_SERVER_USER)
            self._as_server_user(
                "initdb", "-D", str(self._data), "-U", _SERVER_USER, "--auth=trust",
                "-E", "UTF8", "--no-sync",
            )  # fmt: skip
        if self.port == 0:
            self.port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._dir}"
        if not self.fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_server_user(
            "pg_ctl", "-D", str(self._data), "-l", str(self._dir / "server.log"),
            "-o", options, "-w", "-t", str(self.start_timeout), "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server now (fast shutdown); `start` brings it back on the same port."""
        if self.running:
            self._as_server_user("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        try:
            self.stop()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _data(self) -> Path:
        assert self._dir is not None  # noqa: S101 -- only called after start() made it
        return self._dir / "data"

    def _as_server_user(self, program: str, *args: str) -> None:
        path = _program(program, self.bin_dir)
        if path is None:
            raise FileNotFoundError(
                f"{program} not found on PATH nor in Debian's /usr/lib/postgresql/*/bin;"
                " install the PostgreSQL server"
            )
        command = [path, *args]
        if _is_root():
            runuser = _runuser()
            if runuser is None:
                raise FileNotFoundError(postgres_unavailable_reason(self.bin_dir))
            command = [runuser, "-u", _SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 -- fixed argv
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
            )


def _program(name: str, bin_dir: str | None) -> str | None:
    if bin_dir is not None:
        candidate = Path(bin_dir) / name
        return str(candidate) if candidate.exists() else None
    found = shutil.which(name)
    if found is not None:
        return found
    # Debian and Ubuntu keep the server programs of each major version out of PATH.
    for directory in _debian_bin_dirs():
        if (directory / name).exists():
            return str(directory / name)
    return None


def _search_path() -> str:
    """Where `_program` looks without a ``bin_dir``, for messages."""
    return f"PATH ({os.environ.get('PATH', '')}), pg_config --bindir, /usr/lib/postgresql/*/bin"


def _runuser() -> str | None:
    """``runuser`` on PATH, else in the sbin folders a shell's PATH may lack."""
    found = shutil.which("runuser")
    if found is not None:
        return found
    for folder in _SBIN_DIRS:
        candidate = Path(folder) / "runuser"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _debian_bin_dirs() -> list[Path]:
    """Where Debian puts the server programs: ``pg_config --bindir``, then newest version first."""
    directories = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            result = subprocess.run(  # noqa: S603 -- fixed argv
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            result = None
        if result is not None and result.returncode == 0 and result.stdout.strip():
            directories.append(Path(result.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    directories.extend(sorted(versions, key=_version, reverse=True))
    return directories


def _version(bin_dir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,), so that 16 sorts after 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _user_exists(name: str) -> bool:
    import pwd  # Unix only, like running as root

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
