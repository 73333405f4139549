"""The test Django project's URLconf: each test puts its dispatcher's view here."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
