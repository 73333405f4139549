"""Views the adapter tests mount, included by the test project's URLconf (tests/django_project)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
