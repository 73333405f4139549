"""A URLconf with a dispatcher of its own on the Django store, served by the app's view."""

import os

from django.urls import path

from idwise_events import BearerAuth, Dispatcher, FinishedJourney
from idwise_events.contrib.django.store import DjangoStore
from idwise_events.contrib.django.views import webhook_view

dispatcher = Dispatcher(
    verifier=BearerAuth(os.environ["KYC_WEBHOOK_TOKEN"]),
    store=DjangoStore(using="default"),  # any alias of DATABASES where the app is migrated
)


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


urlpatterns = [path("hooks/kyc/", webhook_view(dispatcher))]
