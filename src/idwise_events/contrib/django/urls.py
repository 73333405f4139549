"""The app's URLconf: ``path("webhooks/", include("idwise_events.contrib.django.urls"))``.

The webhook, named ``idwise_events:webhook``, is ``idwise`` under where the project includes
these URLs, with or without a final slash: ``/webhooks/idwise`` and ``/webhooks/idwise/`` are
both served by [`webhook_view`][idwise_events.contrib.django.views.webhook_view] for the
project's dispatcher. IDWise does not follow redirects, so neither form may need one (Django's
``APPEND_SLASH`` would answer the other with one, or a 500 under ``DEBUG``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import URLPattern, path

__all__ = ["app_name", "urlpatterns"]

app_name = "idwise_events"
"""The URL namespace: ``reverse("idwise_events:webhook")`` gives the form without a slash."""

if TYPE_CHECKING:
    urlpatterns: list[URLPattern]
    """The webhook, at ``idwise`` and ``idwise/``, where the project includes these URLs."""


def __getattr__(name: str) -> object:
    """``urlpatterns``, built when Django first resolves a URL (the view reads the settings)."""
    if name == "urlpatterns":
        from .views import webhook_view

        webhook = webhook_view()
        patterns = [path("idwise", webhook, name="webhook"), path("idwise/", webhook)]
        globals()[name] = patterns  # later lookups find them at once
        return patterns
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
