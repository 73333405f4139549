"""Receive IDWise webhooks in a standalone WSGI app, on whatever path it is served at.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python examples/wsgi_receiver.py

or with any WSGI server, ``gunicorn --chdir examples wsgi_receiver:application``.

Deliveries are remembered in memory, by this one process: pass ``store=SqlStore(...)`` to the
dispatcher when several processes or machines receive them (see the Idempotency page).
"""

from __future__ import annotations

from wsgiref.simple_server import make_server

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters.wsgi import app

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    # Payloads carry no personal data: fetch the journey result from IDWise with this id.
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


application = app(dispatcher)

if __name__ == "__main__":
    with make_server("127.0.0.1", 8000, application) as server:
        server.serve_forever()
