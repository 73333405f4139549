"""The app's URL: with or without a final slash, never a redirect, whatever DEBUG says."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import resolve, reverse

from idwise_events import FinishedJourney
from idwise_events.testing import make_event

from .conftest import HEADERS, URL, body_of


def test_the_url_is_the_one_the_docs_give() -> None:
    """reverse() gives /webhooks/idwise, the URL of the portal table; both forms resolve."""
    assert reverse("idwise_events:webhook") == URL == "/webhooks/idwise"
    assert resolve(URL).func is resolve(f"{URL}/").func


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("path", [URL, f"{URL}/"], ids=["no-slash", "slash"])
def test_both_forms_are_processed_under_append_slash(settings: Any, debug: bool, path: str) -> None:
    """CommonMiddleware with APPEND_SLASH redirects nothing here: IDWise gets 200 at once."""
    settings.DEBUG = debug
    settings.APPEND_SLASH = True
    assert "django.middleware.common.CommonMiddleware" in settings.MIDDLEWARE
    others = {name: value for name, value in HEADERS.items() if name != "Content-Type"}
    body = body_of(make_event(FinishedJourney))

    response = Client().generic(
        "POST", path, data=body, content_type="application/json", headers=others
    )

    assert response.status_code == 200
    assert response.json() == {"outcome": "processed"}
