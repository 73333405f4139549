"""What the commands share: errors, consoles, auth flags, event type names and store URLs."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from pydantic import BaseModel
from rich.console import Console

from .._auth import Verifier
from .._auth_config import AuthConfig, AuthNames, build_verifier
from .._auth_env import verifier_from_env
from .._enums import MISSPELT_AML_MONITOR_UPDATE
from .._events import KnownEvent
from .._store import DEFAULT_RETENTION
from ..testing import SAMPLE_BODIES

if TYPE_CHECKING:
    from ..stores.sql import SqlStore

F = TypeVar("F", bound=Callable[..., Any])

ENV_PREFIX = "IDWISE_WEBHOOK_"
DEFAULT_DB = "idwise-events.db"
"""The SQLite file ``listen`` keeps events in unless ``--db`` says otherwise."""


class CliError(click.ClickException):
    """A failure to report as one line on stderr, with exit status 1 (2 for `click.UsageError`)."""


PIPE_WIDTH = 100
"""Columns for tables written to a pipe or a file (unless ``COLUMNS`` says): wider than 80,
which would fold the demo's table, and no terminal to overflow."""


def stdout() -> Console:
    """The console for results: colours only on a terminal, long lines never cut or wrapped."""
    console = Console(highlight=False, emoji=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def stderr() -> Console:
    """The console for notices (what is listening, where the store is), kept out of stdout."""
    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


# -- the library's log ----------------------------------------------------------------------


class _NoticeHandler(logging.Handler):
    """Print the library's warnings as one line each; per-delivery records are the commands' job."""

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "outcome"):  # a delivery's record: the command shows it its own way
            return
        # The message only, never a traceback: the library's messages carry no secrets.
        sys.stderr.write(f"{record.levelname.lower()}: {record.getMessage()}\n")


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

MODELS: dict[str, type[KnownEvent]] = {model.event_type.value: model for model in SAMPLE_BODIES}
"""Each known event model by its wire name, in the order of IDWise's documentation."""


def _squashed(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_SQUASHED_NAME = {_squashed(name): model for name, model in MODELS.items()}
_BY_SQUASHED_NAME.update({_squashed(model.__name__): model for model in MODELS.values()})
_BY_SQUASHED_NAME[_squashed(MISSPELT_AML_MONITOR_UPDATE)] = MODELS["AML Monitor Update"]


def event_model(name: str) -> type[KnownEvent] | None:
    """The model for an event type written any reasonable way, or ``None``.

    ``"Finished Journey"``, ``FinishedJourney``, ``finished-journey`` and ``finished_journey`` are
    one type: case, spaces, dashes and underscores are ignored.
    """
    return _BY_SQUASHED_NAME.get(_squashed(name))


def body_aliases(model: type[KnownEvent]) -> dict[str, str]:
    """The body's wire name for each attribute name (``system_decision`` -> ``systemDecision``)."""
    body = cast("type[BaseModel]", model.model_fields["body"].annotation)
    return {name: info.alias or name for name, info in body.model_fields.items()}


def known_types() -> str:
    """The event type names, for error messages."""
    return ", ".join(MODELS)


# -- stores -------------------------------------------------------------------------------------


def database_url(value: str) -> str:
    """``--db`` as a SQLAlchemy URL: a URL as it is, anything else as the path of a SQLite file."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def open_store(
    url: str, *, table_name: str | None = None, retention_days: float | None = None
) -> SqlStore:
    """A `SqlStore` on ``url`` with its table ready, or `CliError` saying why it cannot open.

    Raises:
        CliError: If SQLAlchemy or the database's driver is missing, the URL is malformed, or the
            database cannot be opened (the message shows the URL without its password).
    """
    try:
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc

        from ..stores.sql import DEFAULT_TABLE_NAME, SqlStore
    except ImportError as exc:
        message = f'the SQL store needs SQLAlchemy: pip install "idwise-events[cli]" ({exc})'
        raise CliError(message) from exc
    try:
        shown = sa.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError as exc:
        raise CliError(f"--db: {url!r} is neither a database URL nor a file path") from exc
    retention = DEFAULT_RETENTION
    if retention_days is not None:
        from datetime import timedelta

        retention = timedelta(days=retention_days)
    try:
        store = SqlStore(url, table_name=table_name or DEFAULT_TABLE_NAME, retention=retention)
        store.create_table()
    except ImportError as exc:  # the database's driver
        raise CliError(f"cannot open {shown}: its driver is not installed ({exc.name})") from exc
    except Exception as exc:  # any failure to open becomes one line
        raise CliError(f"cannot open the database {shown}: {_reason(exc)}") from exc
    return store


def shown_url(store: SqlStore) -> str:
    """The store's database URL without its password."""
    return store.engine.url.render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    """The most telling one-line reason: the driver's message, else the exception's."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = str(exc).strip().splitlines()
    return message[0] if message else type(exc).__name__
