"""Acknowledge fast with Celery: the inbox in PostgreSQL, processed by your Celery workers.

The web side and the workers both import this module:
``celery -A inbox_celery:celery_app worker --beat``. (Named ``celery_app`` so that a web app
named ``app``, FastAPI's or Flask's, can live in the same module.)
"""

from __future__ import annotations

import logging
import os

from celery import Celery

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.inbox.celery import install
from idwise_events.inbox.sql import SqlInbox

logger = logging.getLogger(__name__)

celery_app = Celery("webhooks", broker=os.environ["CELERY_BROKER_URL"])  # redis://..., amqp://...
inbox = SqlInbox(os.environ["DATABASE_URL"])  # postgresql+psycopg://user:password@host/db
dispatcher = Dispatcher(verifier=verifier_from_env(), inbox=inbox)


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    logger.info("decision for %s: %s", event.body.reference_no, event.body.system_decision)


# The task idwise_events.process, the sweep in Celery beat, and an enqueue after each accept.
tasks = install(celery_app, dispatcher)
