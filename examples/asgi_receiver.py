"""Receive IDWise webhooks in a standalone ASGI app, on whatever path it is served at.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python examples/asgi_receiver.py

or with any ASGI server, ``uvicorn --app-dir examples asgi_receiver:application``.

Deliveries are remembered in memory, by this one process: pass ``store=SqlStore(...)`` to the
dispatcher when several processes or machines receive them (see the Idempotency page).
"""

from __future__ import annotations

import uvicorn

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters.asgi import app

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
async def finished(event: FinishedJourney) -> None:
    # Payloads carry no personal data: fetch the journey result from IDWise with this id.
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


application = app(dispatcher)

if __name__ == "__main__":
    uvicorn.run(application, host="127.0.0.1", port=8000)
