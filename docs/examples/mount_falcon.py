"""Falcon: the standalone WSGI app mounted beside a Falcon app with werkzeug's DispatcherMiddleware.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python docs/examples/mount_falcon.py

or with any WSGI server, ``gunicorn --chdir docs/examples mount_falcon:app``.
"""

from __future__ import annotations

from wsgiref.simple_server import make_server

import falcon
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters import DEFAULT_PATH
from idwise_events.adapters.wsgi import app as webhook_app

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


class Health:
    """One of your own Falcon resources."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer that the service is up."""
        resp.media = {"ok": True}


api = falcon.App()
api.add_route("/health", Health())

# Requests under DEFAULT_PATH go to the webhook app, everything else to Falcon. (The ignores:
# checked as Python 3.10, Falcon annotates start_response more narrowly than typeshed does.)
app = DispatcherMiddleware(
    api,  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    {DEFAULT_PATH: webhook_app(dispatcher)},
)

if __name__ == "__main__":
    with make_server("127.0.0.1", 8000, app) as server:
        server.serve_forever()
