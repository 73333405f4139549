"""The app the FastAPI benchmark serves under uvicorn: the adapter's router beside two baselines.

The same three routes as `starlette_app`, in a FastAPI app, so that the router is compared with
what a FastAPI user would write:

- ``POST /webhooks/idwise``: the router (BearerAuth, a MemoryStore, one async no-op handler);
- ``POST /by-hand``: the same steps written by hand in a plain FastAPI endpoint;
- ``POST /bare``: a FastAPI endpoint that reads the body, runs ``json.loads`` and answers 200.

``GET /runs`` tells how many times the handler ran.
"""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from http_load import ADAPTER_PATH, BARE_PATH, BY_HAND_PATH, RUNS_PATH, TOKEN
from idwise_events import (
    BearerAuth,
    Claimed,
    Dispatcher,
    Event,
    FinishedJourney,
    MemoryStore,
    WebhookRequest,
    as_async_store,
    fingerprint,
    parse_event,
)
from idwise_events.adapters.fastapi import router

_PROCESSED = b'{"outcome": "processed"}'  # what the adapter answers, so all send the same
_LEASE = timedelta(minutes=5)  # the dispatcher's default

verifier = BearerAuth(TOKEN)
dispatcher = Dispatcher(verifier=verifier, lease=_LEASE)
by_hand_store = as_async_store(MemoryStore())  # the dispatcher's view of a MemoryStore, too
_runs = 0


async def no_op(event: Event) -> None:
    """The handler: only counts its runs."""
    global _runs
    _runs += 1


dispatcher.on(FinishedJourney)(no_op)

app = FastAPI()
app.include_router(router(dispatcher, path=ADAPTER_PATH))


@app.post(BY_HAND_PATH)
async def by_hand(request: Request) -> Response:
    """The adapter's work written out: a 200 for a new event (anything else is not measured)."""
    body = await request.body()
    client = request.client
    verifier.verify(WebhookRequest(body, request.headers.raw, client and client.host))
    event = parse_event(body)
    key = event.idempotency_key
    claim = await by_hand_store.claim(key, lease=_LEASE, fingerprint=fingerprint(body))
    assert isinstance(claim, Claimed)
    await no_op(event)
    await by_hand_store.complete(key, claim.token)
    return Response(_PROCESSED, media_type="application/json")


@app.post(BARE_PATH)
async def bare(request: Request) -> Response:
    """The least a JSON webhook receiver written with FastAPI does."""
    json.loads(await request.body())
    return Response(_PROCESSED, media_type="application/json")


@app.get(RUNS_PATH)
async def runs() -> PlainTextResponse:
    """How many times the handler ran so far."""
    return PlainTextResponse(str(_runs))
