"""The Django adapter's converters: raw body bytes, headers, peer address, response, CSRF."""

from __future__ import annotations

import inspect

from django.test import RequestFactory

from idwise_events import BearerAuth, Dispatcher, WebhookResponse
from idwise_events.adapters.django import async_view, to_response, to_webhook_request, view

RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'


def test_to_webhook_request_keeps_the_exact_bytes_headers_and_peer() -> None:
    """The body is the bytes received; headers by any case; client_ip is REMOTE_ADDR."""
    django_request = RequestFactory().post(
        "/webhooks/idwise",
        data=RAW,
        content_type="application/json",
        headers={"Authorization": "Bearer t", "X-Tenant": "acme"},
        REMOTE_ADDR="203.0.113.9",
    )

    request = to_webhook_request(django_request)

    assert request.body == RAW
    assert request.header("authorization") == "Bearer t"
    assert request.header("X-TENANT") == "acme"
    assert request.header("content-type") == "application/json"
    assert request.client_ip == "203.0.113.9"


def test_to_response_carries_status_headers_and_body() -> None:
    """Status, every header and the body reach Django's response unchanged."""
    response = to_response(
        WebhookResponse(503, b'{"outcome": "store_unavailable"}', {"Retry-After": "30", "X-A": "b"})
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["X-A"] == "b"
    assert response.content == b'{"outcome": "store_unavailable"}'


def test_the_views_are_csrf_exempt_and_the_async_one_is_a_coroutine_function() -> None:
    """IDWise sends no CSRF token: both views are exempt; Django runs the async one as async."""
    dispatcher = Dispatcher(verifier=BearerAuth("t"))
    sync_view, coroutine_view = view(dispatcher), async_view(dispatcher)

    assert getattr(sync_view, "csrf_exempt", False) is True
    assert getattr(coroutine_view, "csrf_exempt", False) is True
    assert not inspect.iscoroutinefunction(sync_view)
    assert inspect.iscoroutinefunction(coroutine_view)
