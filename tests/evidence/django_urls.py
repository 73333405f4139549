"""A view that runs the Django adapter with the canary in every verifier, then fails."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from stress.canary import CANARY

from idwise_events import BasicAuth, BearerAuth, Dispatcher, HeaderAuth, MemoryStore
from idwise_events.adapters.django import handle

dispatcher = Dispatcher(
    verifier=BearerAuth(CANARY) & HeaderAuth({"X-Api-Key": CANARY}), store=MemoryStore()
)
basic_dispatcher = Dispatcher(
    verifier=BasicAuth("idwise", CANARY) & HeaderAuth({"X-Api-Key": CANARY}), store=MemoryStore()
)


def fails_after_the_adapter(request: HttpRequest) -> HttpResponse:
    """Answer through the adapter, then raise: Django's debug page shows this frame's locals."""
    chosen = (
        basic_dispatcher if request.headers["Authorization"].startswith("Basic") else dispatcher
    )
    response = handle(request, chosen)
    raise RuntimeError(f"the view failed after the adapter answered {response.status_code}")


urlpatterns: list[URLPattern] = [path("canary-fails/", fails_after_the_adapter)]
