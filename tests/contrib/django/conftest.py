"""What the Django app's tests share: the project's credentials, a sender, thread hygiene."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client
from django.urls import clear_url_caches

from idwise_events import BearerAuth, Event
from idwise_events.testing import auth_headers

from ...adapters import django_urls
from ...django_project.settings import TOKEN

URL = "/webhooks/idwise"
"""The app's webhook in the test project (the URL the docs give)."""
HEADERS = {"Content-Type": "application/json", **auth_headers(BearerAuth(TOKEN))}
"""What IDWise sends to the test project (its BEARER_TOKEN)."""


def body_of(event: Event) -> bytes:
    return event.model_dump_json(by_alias=True).encode()


def post(client: Client, body: bytes, headers: dict[str, str] = HEADERS) -> tuple[int, str]:
    """POST ``body`` to the app's URL; the status and the outcome answered."""
    others = {name: value for name, value in headers.items() if name != "Content-Type"}
    response = client.generic(
        "POST", URL, data=body, content_type=headers["Content-Type"], headers=others
    )
    return response.status_code, json.loads(response.content)["outcome"]


@pytest.fixture(autouse=True)
def _the_apps_urls() -> None:
    """The test project's URLs without a view left by an adapter test at the app's URL."""
    django_urls.urlpatterns.clear()
    clear_url_caches()


@pytest.fixture
def close_async_connections() -> Iterator[None]:
    """Close what async code opened in asgiref's thread (as Django does after each request)."""
    yield
    asyncio.run(sync_to_async(connections.close_all)())
