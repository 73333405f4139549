"""What the commands share: errors, consoles, auth flags, event type names and store URLs."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

import click
from rich.console import Console

from .._auth import Verifier
from .._auth_config import AuthConfig, AuthNames, build_verifier
from .._auth_env import verifier_from_env
from .._errors import StoreError
from .._store import DEFAULT_RETENTION
from .._text import error_line
from ._terminal import MESSAGE_LIMIT, printable

if TYPE_CHECKING:
    from sqlalchemy import URL

    from .._dispatch import Dispatcher
    from .._inbox import Inbox
    from ..stores.sql import SqlStore

F = TypeVar("F", bound=Callable[..., Any])

ENV_PREFIX = "IDWISE_WEBHOOK_"
LISTEN_DB = "idwise-events-listen.db"
"""The SQLite file ``listen`` keeps events in unless ``--db`` says otherwise: not the
``idwise-events.db`` the docs give an app, so that ``listen`` run in an app's folder leaves the
app's store alone."""
MAX_TIMEOUT = 3600.0
"""The longest wait, in seconds, a ``--timeout`` may ask for."""
MAX_RETENTION_DAYS = 36_525.0
"""The longest retention, in days (a century), ``--retention-days`` may ask for."""


class CliError(click.ClickException):
    """A failure to report as one line on stderr, with exit status 1 (2 for `click.UsageError`)."""


class FiniteFloat(click.FloatRange):
    """A number in a range, both ends included; ``nan`` is refused too (no range holds it)."""

    def __init__(self, *, min: float, max: float) -> None:
        super().__init__(min=min, max=max)
        self.low, self.high = min, max

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number: float = click.FLOAT.convert(value, param, ctx)
        if not self.low <= number <= self.high:  # (never true of nan)
            self.fail(f"{number:g} is not in the range {self._describe_range()}.", param, ctx)
        return number

    def _describe_range(self) -> str:
        """``0 <= x <= 36525``, the ends written as the user would (not ``36525.0``)."""
        return f"{self.low:g} <= x <= {self.high:g}"


PIPE_WIDTH = 100
"""Columns for tables written to a pipe or a file (unless ``COLUMNS`` says): wider than 80,
which would fold the demo's table, and no terminal to overflow."""


class _Console(Console):
    """rich's console, but text is printed as it is, and a closed pipe ends the command well.

    No markup: the names printed (a table, a path, a file) are the operator's, and ``[v2]`` in
    one is not a style. A reader that stopped reading (``| head``) has what it wanted: the
    command ends with 0 (see `main`), not rich's 1.
    """

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)  # what is still buffered goes nowhere
        os.dup2(devnull, (sys.stderr if self.stderr else sys.stdout).fileno())
        os.close(devnull)
        raise BrokenPipeError


def stdout(pipe_width: int = PIPE_WIDTH) -> Console:
    """The console for results: colours only on a terminal, long lines never cut or wrapped.

    ``pipe_width``: its width when writing to a pipe or a file (unless ``COLUMNS`` says).
    """
    console = _Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = pipe_width
    return console


def stderr() -> Console:
    """The console for notices (what is listening, where the store is), kept out of stdout."""
    return _Console(stderr=True)


# -- the library's log ----------------------------------------------------------------------


class _NoticeHandler(logging.Handler):
    """Print the library's warnings as one line each; per-delivery records are the commands' job."""

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "outcome"):  # a delivery's record: the command shows it its own way
            return
        # The message only, never a traceback: the library's messages carry no secrets. They
        # may quote what a sender chose, so escaped and capped.
        message = printable(record.getMessage(), limit=MESSAGE_LIMIT)
        sys.stderr.write(f"{record.levelname.lower()}: {message}\n")


def quiet_library_log() -> None:
    """Show the ``idwise_events`` logger's warnings as single lines, and nothing else of it."""
    logger = logging.getLogger("idwise_events")
    logger.handlers[:] = [_NoticeHandler(logging.WARNING)]
    logger.propagate = False


# -- authentication flags ---------------------------------------------------------------------


def auth_options(command: F) -> F:
    """Add ``--basic``, ``--bearer`` and ``--header``: the portal's authentication methods."""
    command = click.option(
        "--header",
        "headers",
        multiple=True,
        metavar="NAME:VALUE",
        help="A custom header the portal is set to send (repeat for several).",
    )(command)
    command = click.option(
        "--bearer", metavar="TOKEN", help="Bearer Token authentication with this token."
    )(command)
    command = click.option(
        "--basic", metavar="USER:PASS", help="Basic Authentication with these credentials."
    )(command)
    return command


def verifier_from_flags(
    basic: str | None, bearer: str | None, headers: tuple[str, ...]
) -> tuple[Verifier | None, str]:
    """The verifier the auth flags describe, else the ``IDWISE_WEBHOOK_*`` variables' one.

    Returns ``(None, ...)`` when neither configures anything, with a description of the choice
    that never includes a secret.

    Raises:
        click.UsageError: If a flag is malformed, ``--basic`` comes with ``--bearer``, or a
            variable is invalid (the message names it, never its value).
    """
    if basic is not None and bearer is not None:
        raise click.UsageError("--basic and --bearer both set the Authorization header: pick one")
    pairs: list[tuple[str, str]] | None = None
    if basic is not None:
        username, colon, password = basic.partition(":")
        if not colon:
            raise click.UsageError("--basic takes USER:PASS, with a colon")
        pairs = [(username, password)]
    named: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise click.UsageError("--header takes NAME:VALUE, with a colon")
        named[name.strip()] = value.strip()
    asked = AuthConfig(
        basic=pairs, bearer=None if bearer is None else [bearer], headers=named or None
    )
    try:
        verifier = build_verifier(asked, names=_FLAG_NAMES)
    except ValueError as exc:  # its messages name the flag, never a secret
        raise click.UsageError(str(exc)) from exc
    if verifier is not None:
        described = [
            "Basic Authentication" if basic is not None else "",
            "Bearer Token" if bearer is not None else "",
            "headers " + ", ".join(named) if named else "",
        ]
        return verifier, " and ".join(part for part in described if part)
    if any(name.startswith(ENV_PREFIX) for name in os.environ):
        try:
            return verifier_from_env(), f"the {ENV_PREFIX}* environment variables"
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    return None, "no authentication"


_FLAG_NAMES = AuthNames(basic="--basic", bearer="--bearer", headers="--header")


# -- event type names -------------------------------------------------------------------------

# -- stores -------------------------------------------------------------------------------------


def database_url(value: str) -> str:
    """``--db`` as a SQLAlchemy URL: a URL as it is, anything else as the path of a SQLite file.

    Raises:
        click.UsageError: If ``value`` is a libpq connection string (``host=... password=...``),
            which is neither: the message does not repeat it, as it may hold a password.
    """
    if "://" in value:
        return value
    if _LIBPQ_KEYWORDS.match(value):
        raise click.UsageError(
            "--db takes a database URL or a file path, not a libpq connection string"
            " (host=... dbname=...): write it as postgresql+psycopg://USER:PASSWORD@HOST/DBNAME"
        )
    return f"sqlite:///{Path(value).expanduser().resolve()}"


# Two or more `keyword=value` words, or one naming a password: never a file someone means.
_LIBPQ_KEYWORDS = re.compile(r"\s*(\w+\s*=\s*\S*\s+)+\w+\s*=|\s*(ssl)?password\s*=", re.IGNORECASE)


def open_store(
    url: str,
    *,
    table_name: str | None = None,
    retention_days: float | None = None,
    existing: bool = False,
) -> SqlStore:
    """A `SqlStore` on ``url`` with its table ready, or `CliError` saying why it cannot open.

    ``existing``: the database and the table must be there already (for `purge`): a SQLite file
    or a table that is missing is reported, never created.

    Raises:
        CliError: If SQLAlchemy or the database's driver is missing, the URL is malformed, the
            database cannot be opened, or (``existing``) the file or the table is missing. The
            message shows the URL without its password.
    """
    try:
        import sqlalchemy as sa

        from ..inbox.sql import DEFAULT_INBOX_TABLE_NAME as INBOX_TABLE
        from ..stores.sql import DEFAULT_TABLE_NAME, SqlStore
    except ImportError as exc:
        message = f'the SQL store needs SQLAlchemy: pip install "idwise-events[cli]" ({exc})'
        raise CliError(message) from exc
    parsed, shown = parse_database_url(url)
    if existing:
        missing = missing_sqlite_file(parsed)
        if missing is not None:
            # Opening it would create an empty database: a typo must not pass for "nothing to do".
            raise CliError(f"no SQLite database at {missing}")
    retention = DEFAULT_RETENTION
    if retention_days is not None:
        retention = timedelta(days=retention_days)
    name = table_name or DEFAULT_TABLE_NAME
    try:
        store = SqlStore(url, table_name=name, retention=retention)
        tables = sa.inspect(store.engine) if existing else None
        found = tables is None or tables.has_table(name)
        inbox_table = not found and tables is not None and tables.has_table(INBOX_TABLE)
        django_table = not found and tables is not None and tables.has_table(_DJANGO_STORE_TABLE)
        if not existing:
            store.create_table()
    except ImportError as exc:  # the database's driver
        raise CliError(f"cannot open {shown}: its driver is not installed ({exc.name})") from exc
    except Exception as exc:  # any failure to open becomes one line
        raise CliError(f"cannot open the database {shown}: {failure_reason(exc)}") from exc
    if not found:
        store.close()
        raise CliError(
            f"no table {name} in {shown}: "
            + (
                f"it holds an inbox ({INBOX_TABLE}): purge it with `idwise-events inbox purge`"
                if inbox_table
                else f"it holds the Django app's store ({_DJANGO_STORE_TABLE}): purge it with"
                " `python manage.py idwise_events_purge`"
                if django_table
                else "not an idwise-events store, or its table has another name (--table)"
            )
        )
    return store


DB_VARIABLE = "IDWISE_EVENTS_DB"
"""Where ``--db`` is read from when it is not given: a URL with a password stays out of ``ps``."""
DB_HINT = (
    "Rather than a password in the command line (which every local user sees in ps), set"
    f" {DB_VARIABLE}, or give none in the URL and let libpq read PGPASSWORD or ~/.pgpass."
)


def from_environment(name: str) -> bool:
    """Whether the current command's parameter ``name`` came from its environment variable."""
    source = click.get_current_context().get_parameter_source(name)
    return source is click.core.ParameterSource.ENVIRONMENT


_DJANGO_STORE_TABLE = "idwise_events_receivedevent"  # the Django app's (its model's table)


def parse_database_url(url: str) -> tuple[URL, str]:
    """``url`` parsed, and shown without its password; `CliError` (without it too) if malformed."""
    from sqlalchemy import exc as sa_exc

    from ..stores._engine import hidden_password, make_url

    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:  # its message shows no password
        shown = _without_secrets(url)
        if "holds an '@'" in str(exc):  # an unencoded "@": say so, not only "not a URL"
            raise CliError(f"--db: {shown!r}: {exc}") from exc
        raise CliError(f"--db: {shown!r} is neither a database URL nor a file path") from exc
    return parsed, hidden_password(parsed)


def _without_secrets(url: str) -> str:
    """A URL that could not be parsed, without what could be a password in it.

    All before the last ``@`` of what follows ``scheme://`` (a password may hold ``/``), and any
    ``password=`` parameter.
    """
    from ..stores._engine import hidden_parameters

    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + separator + hidden_parameters(rest)


def missing_sqlite_file(url: URL) -> str | None:
    """The path of the SQLite file ``url`` names if that file does not exist, else ``None``."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None  # in memory: refused by the store
    if database.startswith("file:") and url.query.get("uri") == "true":  # a URI, not a name
        database = unquote(urlsplit(database).path)
    return None if Path(database).is_file() else database


def shown_url(store: SqlStore) -> str:
    """The store's database URL without its passwords, as its repr shows it."""
    from ..stores._engine import shown_url as engine_url

    return engine_url(store.engine)


def failure_reason(exc: BaseException) -> str:
    """The most telling one-line reason: the driver's message, else the exception's.

    But for a call that overran its time limit, the library's own: the driver's ("server closed
    the connection") is only how the wait was ended.
    """
    if "did not answer within" in str(exc):
        return str(exc)
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = str(exc).strip().splitlines()
    return message[0] if message else type(exc).__name__


def dispatcher_with_inbox(app_path: str) -> tuple[Dispatcher, Inbox]:
    """The dispatcher ``--app`` names, and its inbox; `CliError` if it has none."""
    from .._dispatch import Dispatcher

    dispatcher = _import_dispatcher(app_path)
    if not isinstance(dispatcher, Dispatcher):
        raise CliError(f"--app: {app_path} is a {type(dispatcher).__name__}, not a Dispatcher")
    if dispatcher.inbox is None:
        raise CliError(f"--app: {app_path} has no inbox: create it with Dispatcher(inbox=...)")
    from .._memory_inbox import MemoryInbox

    if isinstance(dispatcher.inbox, MemoryInbox):
        raise CliError(
            f"--app: {app_path}'s inbox is a MemoryInbox: it lives in your app's process, which"
            " this command cannot reach; give the app a SqlInbox (see the docs' Inbox page)"
        )
    return dispatcher, dispatcher.inbox


def missing_inbox(inbox: Inbox) -> str | None:
    """What is missing, if ``inbox`` is a `SqlInbox` whose database file or table does not exist.

    Nothing is created to find out. A relative SQLite path is opened from the current directory,
    so a command run elsewhere than the app would otherwise find an empty inbox of its own.
    """
    engine = getattr(inbox, "engine", None)
    exists: Callable[[], bool] | None = getattr(inbox, "exists", None)
    if engine is None or exists is None:
        return None
    missing = missing_sqlite_file(engine.url)
    if missing is not None:
        return f"no SQLite database at {os.path.abspath(missing)}"
    try:
        if not exists():
            return "no inbox table in its database (nothing was ever accepted into it)"
    except StoreError:  # unreachable now: said by the command's first call, if it lasts
        return None
    return None


def _import_dispatcher(app_path: str) -> object:
    """``module:attribute`` imported from the current directory, as uvicorn does."""
    module_name, colon, attribute = app_path.partition(":")
    if not colon or not module_name or not attribute:
        raise click.UsageError(
            "--app takes MODULE:ATTRIBUTE, such as myproject.webhooks:dispatcher"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    _django_before_import(module_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"--app: cannot import {module_name} ({exc})") from exc
    except Exception as exc:  # the module's own code failed: a setting it reads, say
        raised = printable(error_line(exc), limit=MESSAGE_LIMIT)  # (our own advice is long)
        raise CliError(
            f"--app: importing {module_name} raised {raised}; importing runs the module: give"
            " this command the settings and environment variables your server has"
        ) from exc
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise CliError(f"--app: {module_name} has no attribute {attribute}") from exc
        except Exception as exc:  # built on first use (the Django app's dispatcher): it failed
            raised = printable(error_line(exc), limit=MESSAGE_LIMIT)
            raise CliError(f"--app: building {module_name}:{attribute} raised {raised}") from exc
    _django_after_import(module_name, target)
    return target


def _django_before_import(module_name: str) -> None:
    """Load the Django project's apps before the module is imported, as ``manage.py`` does.

    Where ``DJANGO_SETTINGS_MODULE`` is set (as Celery's workers do): a project's webhooks
    module imports its models, and the Django app's own dispatcher cannot even be built,
    without it.
    """
    settings = os.environ.get("DJANGO_SETTINGS_MODULE")
    if settings and importlib.util.find_spec("django") is not None:
        _django_setup(settings)
    elif module_name.startswith("idwise_events.contrib.django") and not settings:
        raise CliError(
            f"--app: {module_name} is the Django app's: set DJANGO_SETTINGS_MODULE to your"
            " project's settings (and run from the project's folder)"
        )


def _django_after_import(module_name: str, dispatcher: object) -> None:
    """For a dispatcher on Django's inbox or store: the apps loaded, or say to set the settings.

    The module may have set ``DJANGO_SETTINGS_MODULE`` itself (``os.environ.setdefault``, as
    ``manage.py`` does): then they are loaded now.
    """
    parts = (getattr(dispatcher, "inbox", None), getattr(dispatcher, "store", None))
    on_django = any(
        cls.__module__.startswith("idwise_events.contrib.django")
        for part in parts
        for cls in type(part).__mro__
    )
    if not on_django:
        return
    settings = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not settings:
        raise CliError(
            f"--app: {module_name}'s dispatcher keeps its deliveries with Django: set"
            " DJANGO_SETTINGS_MODULE to your project's settings"
        )
    _django_setup(settings)


def _django_setup(settings: str) -> None:
    """``django.setup()``, unless the apps are loaded already; its failure as one line."""
    import django
    from django.apps import apps

    if apps.ready:
        return
    try:
        django.setup()
    except Exception as exc:  # the settings module's own code, or a missing app
        raised = printable(error_line(exc), limit=MESSAGE_LIMIT)
        raise CliError(
            f"--app: setting up Django with DJANGO_SETTINGS_MODULE={settings} raised {raised}"
            " (for an app without Django, unset it)"
        ) from exc


class LogLines(logging.Handler):
    """The library's log records as one line each, as it words them; counts the errors.

    A delivery's line (a worker's) goes to stdout, the others to stderr; no tracebacks.
    """

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors += 1
        message = record.getMessage()
        stream = sys.stdout if hasattr(record, "delivery_id") else sys.stderr
        stream.write(f"{message}\n")
        stream.flush()


def log_lines(level: int) -> LogLines:
    """Show the library's log records from ``level`` up as lines (only there), for a command."""
    handler = LogLines(level)
    logger = logging.getLogger("idwise_events")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return handler
