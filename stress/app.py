"""The app the stress scripts serve, in every worker process, configured by environment variables.

Servers import it as ``stress.app:asgi`` (uvicorn) or ``stress.app:wsgi`` (gunicorn).

- ``STRESS_STORE_URL`` / ``STRESS_TABLE``: the `SqlStore` all the workers share;
- ``STRESS_NETWORK_TIMEOUT``: that store's ``network_timeout`` in seconds (PostgreSQL);
- ``STRESS_LEASE``: the dispatcher's lease in seconds;
- ``STRESS_AUTH``: ``bearer`` (``BearerAuth``), ``bearer+header`` or ``basic+header``
  (``AllOf`` with ``HeaderAuth({"X-Api-Key": ...})``), all with the secret ``STRESS_SECRET``;
- ``STRESS_EFFECTS``: a libpq connection string: the handler records its side effect there
  (one row per event key, ``runs`` counting the handler's runs), so it survives the process;
- ``STRESS_HANDLER_DELAY``: seconds the handler sleeps, so that concurrent copies overlap;
- ``STRESS_CRASH_DIR``: when a file named after the event's key is there, the handler deletes it
  and kills its own process with SIGKILL before recording anything (one process wins the delete);
- ``STRESS_FAIL_TEXT``: when set, a handler raising for the event key ``fail-me`` says this text;
- ``STRESS_LOG_LEVEL``: log the package at this level to stderr (the server's log).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from idwise_events import AllOf, BasicAuth, BearerAuth, Dispatcher, Event, HeaderAuth, Verifier
from idwise_events.adapters import asgi as asgi_adapter
from idwise_events.adapters import wsgi as wsgi_adapter
from idwise_events.stores.sql import SqlStore
from stress import effects


def verifier(kind: str, secret: str) -> Verifier:
    """The verifier named by ``STRESS_AUTH``, every part holding ``secret``."""
    if kind == "bearer":
        return BearerAuth(secret)
    if kind == "bearer+header":
        return AllOf(BearerAuth(secret), HeaderAuth({"X-Api-Key": secret}))
    if kind == "basic+header":
        return BasicAuth("idwise", secret) & HeaderAuth({"X-Api-Key": secret})
    raise ValueError(f"unknown STRESS_AUTH {kind!r}")


_env = os.environ
if _env.get("STRESS_LOG_LEVEL"):
    logging.basicConfig(level=_env["STRESS_LOG_LEVEL"], format="%(levelname)s %(name)s %(message)s")
_CRASH_DIR = Path(_env["STRESS_CRASH_DIR"]) if _env.get("STRESS_CRASH_DIR") else None
_DELAY = float(_env.get("STRESS_HANDLER_DELAY", "0"))
_EFFECTS = _env.get("STRESS_EFFECTS", "")
_local = threading.local()  # one side-effect connection per worker thread

dispatcher = Dispatcher(
    verifier=verifier(_env.get("STRESS_AUTH", "bearer"), _env["STRESS_SECRET"]),
    store=SqlStore(
        _env["STRESS_STORE_URL"],
        table_name=_env["STRESS_TABLE"],
        network_timeout=timedelta(seconds=float(_env.get("STRESS_NETWORK_TIMEOUT", "10"))),
    ),
    lease=timedelta(seconds=float(_env.get("STRESS_LEASE", "300"))),
)


@dispatcher.on_any
def record(event: Event) -> None:
    """Crash or fail when asked, wait, then record the run in PostgreSQL (committed at once)."""
    key = event.idempotency_key
    if _CRASH_DIR is not None:
        try:
            (_CRASH_DIR / key).unlink()
        except FileNotFoundError:
            pass
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    if key == "fail-me" and _env.get("STRESS_FAIL_TEXT"):
        raise RuntimeError(_env["STRESS_FAIL_TEXT"])
    if _DELAY:
        time.sleep(_DELAY)
    if _EFFECTS:
        _effects_connection().execute(effects.RECORD, (key,))


def _effects_connection() -> Any:
    """This thread's connection to the side-effect table, opened again after a failure."""
    import psycopg

    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed or connection.broken:
        # Bounded: a stopped server fails the connect, and every statement within 5 s.
        connection = psycopg.connect(
            _EFFECTS, autocommit=True, connect_timeout=3, options="-c statement_timeout=5000"
        )
        _local.connection = connection
    return connection


asgi = asgi_adapter.app(dispatcher)
wsgi = wsgi_adapter.app(dispatcher)
