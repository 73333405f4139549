"""A Django project's ``webhooks.py`` whose inbox deliveries procrastinate's Django app processes.

Settings: ``"procrastinate.contrib.django"`` in ``INSTALLED_APPS`` and
``IDWISE_EVENTS = {..., "INBOX": True}``; then ``python manage.py migrate`` and
``python manage.py procrastinate worker --queues idwise_events``.
"""

from __future__ import annotations

# --8<-- [start:webhooks]
import logging

from procrastinate.contrib.django import app

from idwise_events import FinishedJourney
from idwise_events.contrib.django import dispatcher
from idwise_events.inbox.procrastinate import install

logger = logging.getLogger(__name__)


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    logger.info("decision for %s: %s", event.body.reference_no, event.body.system_decision)


# Here, beside the handlers: Django imports webhooks.py in every process it starts, the web
# server's (which defers each accepted delivery) and the worker's (which runs the tasks).
tasks = install(app, dispatcher)
# --8<-- [end:webhooks]
