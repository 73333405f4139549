"""The app the HTTP benchmark serves under uvicorn: the Starlette adapter beside two baselines.

The routes live in one app and one server process, so that they share everything but the code
that answers:

- ``POST /webhooks/idwise``: the adapter's route (BearerAuth, a MemoryStore, one async no-op
  handler);
- ``POST /by-hand``: the same steps written by hand in a plain endpoint (verify, parse, claim,
  handler, complete), to tell the adapter's and dispatcher's own cost from the work itself;
- ``POST /bare``: reads the body, runs ``json.loads`` and answers 200, the least a receiver does;
- ``POST /bare-hop`` and ``POST /bare-to-thread``: the same, plus one call of a no-op function in
  a worker thread, through the dispatcher's threads or ``asyncio.to_thread``: the least a plain
  handler adds, whatever the dispatcher does.

All three answer the same JSON. ``GET /runs`` tells how many times the handler ran, so that the
benchmark can check each request was a new event rather than a duplicate.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from http_load import (
    ADAPTER_PATH,
    BARE_HOP_PATH,
    BARE_PATH,
    BARE_TO_THREAD_PATH,
    BY_HAND_PATH,
    PLAIN_PATH,
    RUNS_PATH,
    TOKEN,
)
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
from idwise_events._threads import to_thread
from idwise_events.adapters.starlette import route

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


def plain_no_op(event: Event) -> None:
    """The same handler written as a plain function, as most users write them."""
    global _runs
    _runs += 1


plain_dispatcher = Dispatcher(verifier=verifier, lease=_LEASE)
plain_dispatcher.on(FinishedJourney)(plain_no_op)


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


async def bare(request: Request) -> Response:
    """The least a JSON webhook receiver can do."""
    json.loads(await request.body())
    return Response(_PROCESSED, media_type="application/json")


def nothing() -> None:
    """What a plain handler does at the least, in its worker thread."""


async def bare_hop(request: Request) -> Response:
    """The bare endpoint, plus one trip to the dispatcher's worker threads."""
    json.loads(await request.body())
    await to_thread(nothing)
    return Response(_PROCESSED, media_type="application/json")


async def bare_to_thread(request: Request) -> Response:
    """The bare endpoint, plus one ``asyncio.to_thread``."""
    json.loads(await request.body())
    await asyncio.to_thread(nothing)
    return Response(_PROCESSED, media_type="application/json")


async def runs(request: Request) -> Response:
    """How many times the handler ran so far."""
    return PlainTextResponse(str(_runs))


app = Starlette(
    routes=[
        route(dispatcher, path=ADAPTER_PATH),
        route(plain_dispatcher, path=PLAIN_PATH, name="plain"),
        Route(BY_HAND_PATH, by_hand, methods=["POST"]),
        Route(BARE_PATH, bare, methods=["POST"]),
        Route(BARE_HOP_PATH, bare_hop, methods=["POST"]),
        Route(BARE_TO_THREAD_PATH, bare_to_thread, methods=["POST"]),
        Route(RUNS_PATH, runs, methods=["GET"]),
    ]
)
