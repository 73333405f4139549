"""A Django project's package in Celery's Django layout: its Celery app loads with Django."""

from .celery import app as celery_app

__all__ = ["celery_app"]
