"""Receive IDWise webhooks in a Starlette app, at /webhooks/idwise.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python examples/starlette_receiver.py

Deliveries are remembered in memory, by this one process: pass ``store=SqlStore(...)`` to the
dispatcher when several processes or machines receive them (see the Idempotency page).
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters.starlette import route

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
async def finished(event: FinishedJourney) -> None:
    # Payloads carry no personal data: fetch the journey result from IDWise with this id.
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


app = Starlette(routes=[route(dispatcher)])  # POST /webhooks/idwise

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8000)
