"""Acknowledge fast on one machine: the SQLite inbox and the embedded worker beside the web app."""

from __future__ import annotations

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.inbox.sql import SqlInbox
from idwise_events.inbox.worker import EmbeddedWorker

inbox = SqlInbox("sqlite:///idwise-events.db")
dispatcher = Dispatcher(verifier=verifier_from_env(), inbox=inbox)


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    print("decision for", event.body.reference_no, event.body.system_decision)


# --8<-- [start:worker]
worker = EmbeddedWorker(dispatcher)  # woken at once by each delivery this process accepts


def on_startup() -> None:  # your web framework's startup hook
    worker.start()


def on_shutdown() -> None:  # ... and its shutdown hook
    worker.stop(timeout=30)  # lets the current delivery's handlers finish


# --8<-- [end:worker]
