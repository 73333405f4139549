"""The app the stress scripts serve, in every worker process, configured by environment variables.

Servers import it as ``stress.app:asgi`` (uvicorn) or ``stress.app:wsgi`` (gunicorn).

- ``STRESS_STORE_URL`` / ``STRESS_TABLE``: the `SqlStore` all the workers share (or the
  `SqlInbox`, with ``STRESS_INBOX``);
- ``STRESS_INBOX``: ``celery`` or ``procrastinate``: the dispatcher accepts into a `SqlInbox`
  and that engine's ``install`` enqueues each accepted delivery; the engine's workers import
  ``stress.app:celery_app`` (on the Redis at ``STRESS_BROKER_URL``) or
  ``stress.app.procrastinate_app`` (on ``STRESS_STORE_URL``'s database), which sweeps every
  ``STRESS_SWEEP_EVERY`` seconds; ``STRESS_OPEN_QUEUE=1`` (the web side) opens procrastinate's
  synchronous pool, which its enqueue uses;
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
from idwise_events.inbox.sql import SqlInbox
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

_INBOX = _env.get("STRESS_INBOX", "")
_NETWORK_TIMEOUT = timedelta(seconds=float(_env.get("STRESS_NETWORK_TIMEOUT", "10")))
_LEASE = timedelta(seconds=float(_env.get("STRESS_LEASE", "300")))
_VERIFIER = verifier(_env.get("STRESS_AUTH", "bearer"), _env["STRESS_SECRET"])
_URL, _TABLE = _env["STRESS_STORE_URL"], _env["STRESS_TABLE"]

if _INBOX:
    dispatcher = Dispatcher(
        verifier=_VERIFIER,
        inbox=SqlInbox(_URL, table_name=_TABLE, network_timeout=_NETWORK_TIMEOUT),
        lease=_LEASE,
    )
else:
    dispatcher = Dispatcher(
        verifier=_VERIFIER,
        store=SqlStore(_URL, table_name=_TABLE, network_timeout=_NETWORK_TIMEOUT),
        lease=_LEASE,
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


def _install_engine(name: str) -> Any:
    """Build the engine's app, install the inbox's tasks on it (and its enqueue): the app."""
    sweep_every = timedelta(seconds=float(_env.get("STRESS_SWEEP_EVERY", "60")))
    if name == "celery":
        import celery

        from idwise_events.inbox.celery import install as install_celery

        app = celery.Celery("stress", broker=_env["STRESS_BROKER_URL"], set_as_current=False)
        app.conf.update(
            worker_prefetch_multiplier=1,  # a pool process holds one job at a time
            broker_connection_retry_on_startup=True,
            worker_hijack_root_logger=False,
        )
        install_celery(app, dispatcher, sweep_every=sweep_every)
        return app
    if name == "procrastinate":
        import procrastinate

        from idwise_events.inbox.procrastinate import install as install_procrastinate

        libpq = _URL.replace("postgresql+psycopg://", "postgresql://", 1)
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq))
        install_procrastinate(app, dispatcher, sweep_every=sweep_every)
        if _env.get("STRESS_OPEN_QUEUE") == "1":
            app.open()  # the web side's synchronous pool, which each enqueue uses
        return app
    raise ValueError(f"unknown STRESS_INBOX {name!r}")


if _INBOX:
    engine_app = _install_engine(_INBOX)
    celery_app = procrastinate_app = engine_app  # the name each engine's command line uses

asgi = asgi_adapter.app(dispatcher)
wsgi = wsgi_adapter.app(dispatcher)
