"""The engine `SqlStore` creates from a URL, its statements as driver SQL, its error messages."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .._text import driver_reason
from ._table import Statements

__all__: list[str] = []

_CONNECT_TIMEOUT = 5  # seconds (or network_timeout if shorter), unless the URL says otherwise
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")
_ENCODE_HINT = (
    "'@', ':' or '/' in the user name or password percent-encoded (%40, %3A, %2F), as"
    " urllib.parse.quote(password, safe='') gives"
)


_engines: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
"""The engines of this process's stores and inboxes, given a new pool in a forked child."""


def new_pool_after_fork(engine: sa.Engine) -> None:
    """In a child forked from this process (``gunicorn --preload``), ``engine`` gets a new pool.

    The parent's pooled connections are its own: a child using them too would interleave its
    statements with the parent's on one socket, and read the parent's results as its own.
    """
    _engines.add(engine)


def _forked() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)  # forgets the parent's connections, without closing them


os.register_at_fork(after_in_child=_forked)


def make_url(url: str) -> sa.URL:
    """``url`` parsed by SQLAlchemy, which also takes ``postgres://`` (Heroku's, libpq's form).

    Raises:
        sqlalchemy.exc.ArgumentError: If it is not a URL (a bare file name is told how to write
            one; anything else is not quoted: with a ``:``, an ``@`` or a ``=``, it may hold a
            password), or if an ``@`` follows its password's (one in the password, not
            percent-encoded).
    """
    try:
        parsed = sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError):  # ValueError: a "port" that is not a number
        if url.strip() and not any(mark in url for mark in ":@="):  # a file name, no secret
            message = f"{url!r} is not a database URL: for a SQLite file, write 'sqlite:///{url}'"
        else:
            message = (
                "not a database URL (not shown: it may hold a password); expected"
                " postgresql+psycopg://USER:PASSWORD@HOST/DATABASE or sqlite:///FILE, with any"
                f" {_ENCODE_HINT}"
            )
        # SQLAlchemy's message quotes the URL whole, or a part of the password as the port.
        raise sa_exc.ArgumentError(message) from None
    if parsed.password is not None and "@" in url.partition("@")[2]:
        # "USER:P@SS@HOST": SQLAlchemy and libpq split at the first "@", leaving the rest of the
        # password as the host (or the database, or the query), which would be shown, and the
        # host sent to the DNS resolver.
        raise sa_exc.ArgumentError(
            f"the database URL's password holds an '@': write any {_ENCODE_HINT}"
        )
    backend, plus, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        parsed = parsed.set(drivername=f"postgresql{plus}{driver}")
    return parsed


def create_engine(
    url: str, *, pool_size: int, busy_timeout: timedelta, network_timeout: timedelta
) -> sa.Engine:
    """An engine for ``url`` with every wait bounded, in autocommit (see `SqlStore`'s options)."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise ValueError(
                "an in-memory SQLite database is private to one connection, so it cannot hold"
                " claims for several workers: use MemoryStore, or a file (sqlite:///events.db)"
            )
        connect_args["timeout"] = busy_timeout.total_seconds()
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS:
        # libpq's own limits, all on the client side (so poolers such as PgBouncer take them):
        # fail fast (StoreError, then 503) when the server is unreachable, and let the kernel
        # drop a connection whose peer vanished, idle or not (keepalives also keep NAT entries
        # alive). The watchdog covers what they cannot see. A value in the URL wins.
        seconds = network_timeout.total_seconds()
        limits = {
            # Whole seconds; libpq takes 2 for anything less.
            "connect_timeout": max(2, min(_CONNECT_TIMEOUT, math.ceil(seconds))),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": round(seconds * 1000),
        }
        connect_args.update(
            (name, value) for name, value in limits.items() if name not in parsed.query
        )
    # Every operation is one statement, committed on its own: in autocommit there is neither a
    # transaction to commit after it nor one to roll back when the connection goes back to the pool.
    if parsed.get_backend_name() == "sqlite":
        # The store keeps one connection per thread to a file of its own: no pool to size.
        pooling: dict[str, Any] = {"poolclass": sa.pool.NullPool}
    else:
        pooling = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            # Waiting for a free connection is bounded too: a 503 rather than a hang.
            "pool_timeout": network_timeout.total_seconds(),
            # The connection used last comes first: warm, and the others may idle out.
            "pool_use_lifo": True,
        }
    return sa.create_engine(
        parsed,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        connect_args=connect_args,
        **pooling,
    )


def shown_url(engine: sa.Engine) -> str:
    """The engine's URL for a repr: its passwords hidden, a relative SQLite file made absolute.

    SQLite opens a relative path from the current directory: shown whole, a process started
    elsewhere is seen using another file.
    """
    url = engine.url
    database = url.database or ""
    relative = database not in ("", ":memory:") and not database.startswith("file:")
    if url.get_backend_name() == "sqlite" and relative and not os.path.isabs(database):
        url = url.set(database=os.path.abspath(database))
    return hidden_password(url)


def hidden_password(url: sa.URL) -> str:
    """``url`` as text, with its password shown as ``***``, in the query too (libpq reads it)."""
    return hidden_parameters(url.render_as_string(hide_password=True))


def hidden_parameters(text: str) -> str:
    """``text`` (a URL) with the value of each ``password=`` or ``sslpassword=`` as ``***``."""
    return _SECRET_PARAMETER.sub(r"\1***", text)


_SECRET_PARAMETER = re.compile(r"((?:^|[?&;])(?:ssl)?password=)[^&;]*", re.IGNORECASE)


def driver_sql(statements: Statements, dialect: sa.Dialect) -> dict[str, str]:
    """Each statement's SQL for ``dialect``, with named parameters (``:name``, ``%(name)s``).

    Named, so that the parameters are one dict whatever the driver's own style: a positional
    dialect (SQLite's ``?``) compiles as its named variant, which its driver takes too.
    """
    named: sa.Dialect = dialect
    if dialect.positional:
        named = cast(Callable[..., sa.Dialect], type(dialect))(paramstyle="named")
    return {
        field.name: str(statement.compile(dialect=named))
        for field in dataclasses.fields(statements)
        if (statement := getattr(statements, field.name)) is not None
    }


def driver_error(exc: Exception) -> BaseException:
    """The driver's own exception inside SQLAlchemy's wrapper, so every StoreError has one kind."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def describe(engine: sa.Engine, exc: Exception, what: str = "idempotency store") -> str:
    """Name the failure of ``what`` and the driver's reason, the URL's passwords hidden in it.

    The reason (``OperationalError: unable to open database file``, ``... Connection refused``)
    is what an operator needs; a driver may quote its connection details in it, so each password
    the URL holds is written ``***`` wherever it appears.
    """
    cause = getattr(exc, "orig", None) or exc
    url = engine.url
    secrets = (url.password, url.query.get("password"), url.query.get("sslpassword"))
    reason = driver_reason(cause, secrets)
    return f"{engine.dialect.name} {what} unavailable ({reason})"
