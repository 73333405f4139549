"""The test project's URLconf: the admin, the idwise_events app, and the adapter tests' views."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

# --8<-- [start:urls]
urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("webhooks/idwise/", include("idwise_events.contrib.django.urls")),
    # --8<-- [end:urls]
    path("", include("tests.adapters.django_urls")),  # each adapter test mounts its view here
]
