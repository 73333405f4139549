"""Receive IDWise webhooks in a single-file Django project, at /webhooks/idwise.

Run it with the credentials chosen in the IDWise portal (see ``verifier_from_env``)::

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python examples/django_receiver.py runserver

or with a WSGI server, ``gunicorn --chdir examples django_receiver:application``, with your public
host name in ``DJANGO_ALLOWED_HOSTS``. In a full project, the ``urlpatterns`` line goes in your
``urls.py``.

Deliveries are remembered in memory, by this one process: pass ``store=SqlStore(...)`` to the
dispatcher when several processes or machines receive them (see the Idempotency page).
"""

from __future__ import annotations

import os
import secrets
import sys

from django.conf import settings
from django.core.management import execute_from_command_line
from django.core.wsgi import get_wsgi_application
from django.urls import path

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters.django import view

settings.configure(
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(","),
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(),  # signs nothing here
)
dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    # Payloads carry no personal data: fetch the journey result from IDWise with this id.
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


urlpatterns = [path("webhooks/idwise", view(dispatcher))]
application = get_wsgi_application()

if __name__ == "__main__":
    execute_from_command_line(sys.argv)
