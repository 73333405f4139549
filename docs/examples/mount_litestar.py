"""Litestar: the standalone ASGI app mounted as a Litestar ASGI route handler.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python docs/examples/mount_litestar.py

or with ``uvicorn --app-dir docs/examples mount_litestar:app``.
"""

from __future__ import annotations

import uvicorn
from litestar import Litestar, asgi, get

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters import DEFAULT_PATH
from idwise_events.adapters.asgi import app as webhook_app

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
async def finished(event: FinishedJourney) -> None:
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


@get("/health")
async def health() -> dict[str, bool]:
    """One of your own Litestar handlers."""
    return {"ok": True}


# is_mount: the app gets every request under the path; copy_scope: Litestar's scope stays intact.
idwise_webhooks = asgi(DEFAULT_PATH, is_mount=True, copy_scope=True)(webhook_app(dispatcher))
app = Litestar(route_handlers=[health, idwise_webhooks])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8000)
