"""The test project's URLconf: the admin, the idwise_events app, and the adapter tests' views."""

from __future__ import annotations

# --8<-- [start:urls]
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("webhooks/", include("idwise_events.contrib.django.urls")),  # /webhooks/idwise
]
# --8<-- [end:urls]

# Each adapter test mounts its view at /webhooks/idwise here, ahead of the app's URL (the app's
# tests empty this list again: tests/contrib/django/conftest.py).
urlpatterns.insert(0, path("", include("tests.adapters.django_urls")))
