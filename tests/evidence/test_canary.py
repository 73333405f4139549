"""A canary secret in every verifier never shows: answers, logs, reprs, errors, CLI, Django."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from stress.canary import CANARY, leaks

from .conftest import once


@once
def test_the_canary_appears_in_no_answer_log_repr_error_or_cli_output(tmp_path: Path) -> None:
    """Servers (uvicorn, gunicorn) at DEBUG, every verifier in process, listen and send."""
    searched, found = leaks(40, seed=5, folder=tmp_path)
    assert searched > 200
    assert found == []


@pytest.mark.urls("tests.evidence.django_urls")
def test_django_s_debug_error_page_does_not_show_the_canary(settings: Any) -> None:
    """DEBUG=True, IDWISE_EVENTS holding the canary, a view failing after the adapter answered."""
    settings.DEBUG = True
    settings.IDWISE_EVENTS = {
        "BEARER_TOKEN": CANARY,
        "BASIC_AUTH": f"idwise:{CANARY}",
        "HEADER_AUTH": {"X-Api-Key": CANARY},
    }
    basic = base64.b64encode(f"idwise:{CANARY}".encode()).decode()
    client = Client(raise_request_exception=False)
    for authorization in (f"Bearer {CANARY}", f"Basic {basic}"):
        response = client.post(
            "/canary-fails/",
            data=b'{"event": "Finished Journey", "body": {"journeyId": "j"}}',
            content_type="application/json",
            headers={"Authorization": authorization, "X-Api-Key": CANARY},
        )
        page = response.content.decode()
        assert response.status_code == 500
        assert "Traceback" in page  # the technical page, with frames and settings
        assert "IDWISE_EVENTS" in page
        assert CANARY not in page
