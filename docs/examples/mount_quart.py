"""Quart: the standalone ASGI app in front of Quart, as ASGI middleware on ``app.asgi_app``.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python docs/examples/mount_quart.py

or with ``hypercorn docs/examples/mount_quart:app``.
"""

from __future__ import annotations

from typing import Any

from quart import Quart

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters import DEFAULT_PATH
from idwise_events.adapters.asgi import app as webhook_app

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
async def finished(event: FinishedJourney) -> None:
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


app = Quart(__name__)


@app.get("/health")
async def health() -> dict[str, bool]:
    """One of your own Quart views."""
    return {"ok": True}


webhooks = webhook_app(dispatcher)
quart_asgi_app = app.asgi_app


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """IDWise's deliveries to the webhook app, every other request to Quart."""
    if scope["type"] == "http" and scope["path"] == DEFAULT_PATH:
        await webhooks(scope, receive, send)
    else:
        await quart_asgi_app(scope, receive, send)


# Quart's documented way to add ASGI middleware (mypy refuses assignments to methods).
app.asgi_app = asgi_app  # type: ignore[method-assign]

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
