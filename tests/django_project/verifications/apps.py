"""The verifications app: it connects its signal receivers when Django is ready."""

from __future__ import annotations

from django.apps import AppConfig


class VerificationsConfig(AppConfig):
    name = "tests.django_project.verifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 -- importing it connects the receivers
