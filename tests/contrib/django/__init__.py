"""Tests of the Django app, in the suite's Django project (tests/django_project)."""
