"""The app's URLconf: ``path("webhooks/idwise/", include("idwise_events.contrib.django.urls"))``.

One URL, named ``idwise_events:webhook``, served by
[`webhook_view`][idwise_events.contrib.django.views.webhook_view] for the project's dispatcher.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import webhook_view

__all__ = ["app_name", "urlpatterns"]

app_name = "idwise_events"
"""The URL namespace: ``reverse("idwise_events:webhook")``."""

urlpatterns: list[URLPattern] = [path("", webhook_view(), name="webhook")]
"""The webhook, where the project includes these URLs."""
