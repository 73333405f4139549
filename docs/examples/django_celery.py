"""A Django project's ``webhooks.py`` whose inbox deliveries Celery processes.

``proj/celery.py`` is Celery's own Django layout, in which ``app`` is the project's Celery app:
``app = Celery("proj")``, ``app.config_from_object("django.conf:settings", namespace="CELERY")``,
and ``proj/__init__.py`` imports it. The workers: ``celery -A proj worker``, and one
``celery -A proj beat`` for the sweep.
"""

from __future__ import annotations

# --8<-- [start:webhooks]
import logging

from idwise_events import FinishedJourney
from idwise_events.contrib.django import dispatcher
from idwise_events.inbox.celery import install
from proj.celery import app  # the project's Celery app (Celery's Django layout)

logger = logging.getLogger(__name__)


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    logger.info("decision for %s: %s", event.body.reference_no, event.body.system_decision)


# Here, beside the handlers, rather than in a tasks.py: Django imports webhooks.py in every
# process it starts, the web server's (which enqueues each accepted delivery) and the worker's.
tasks = install(app, dispatcher)
# --8<-- [end:webhooks]
