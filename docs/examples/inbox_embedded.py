"""Acknowledge fast on one machine: the SQLite inbox and the embedded worker beside the web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def lifespan(app: object) -> AsyncIterator[None]:  # FastAPI(lifespan=lifespan), Starlette
    async with worker:  # started; at shutdown, stopped once the current delivery's handlers end
        yield


async def embedded_worker(app: object) -> AsyncIterator[None]:  # aiohttp: app.cleanup_ctx.append
    async with worker:
        yield


# A framework without an async lifespan (Flask): worker.start() where the app is created, and
# worker.stop(timeout=30) at exit; `with worker:` does both around a block.
# --8<-- [end:worker]
