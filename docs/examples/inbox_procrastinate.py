"""Acknowledge fast with procrastinate: the inbox and the job queue in one PostgreSQL database.

The web side and the workers both import this module:
``procrastinate --app=inbox_procrastinate.app worker --queues idwise_events``.
"""

from __future__ import annotations

import logging
import os

import procrastinate

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.inbox.procrastinate import install
from idwise_events.inbox.sql import SqlInbox

logger = logging.getLogger(__name__)

DATABASE_URL = os.environ["DATABASE_URL"]  # postgresql://user:password@host/db
# The defer after each accept runs inside the webhook's request: bound its waits (libpq's
# connect and a network gone silent), as the inbox bounds its own calls.
LIMITS = {
    "connect_timeout": 5,  # seconds
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,  # milliseconds
}
app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=DATABASE_URL, kwargs=LIMITS)
)
# The same database, through SQLAlchemy's psycopg driver.
inbox = SqlInbox(DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1))
dispatcher = Dispatcher(verifier=verifier_from_env(), inbox=inbox)


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    logger.info("decision for %s: %s", event.body.reference_no, event.body.system_decision)


# The task idwise_events.process, the periodic sweep, and a defer after each accept.
tasks = install(app, dispatcher)


# --8<-- [start:web]
def on_startup() -> None:  # your web framework's startup hook
    app.open()  # the synchronous pool the enqueue after each accept uses (async apps too)


def on_shutdown() -> None:  # ... and its shutdown hook
    app.close()


# --8<-- [end:web]
