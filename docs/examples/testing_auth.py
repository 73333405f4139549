"""Testing an endpoint's verification with auth_headers: no real secrets, no IDWise."""

from __future__ import annotations

import pytest

from idwise_events import BearerAuth, FinishedJourney, HeaderAuth, VerificationError, WebhookRequest
from idwise_events.testing import auth_headers, make_event

# In a real app this comes from your settings (see verifier_from_env).
VERIFIER = BearerAuth(["new-token", "old-token"]) & HeaderAuth({"X-Tenant": "acme"})
BODY = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()


def test_what_idwise_sends_is_accepted() -> None:
    headers = auth_headers(VERIFIER)  # {"Authorization": "Bearer new-token", "X-Tenant": "acme"}
    VERIFIER.verify(WebhookRequest(BODY, headers))


def test_a_request_without_the_tenant_header_is_refused() -> None:
    headers = auth_headers(VERIFIER)
    del headers["X-Tenant"]
    with pytest.raises(VerificationError):
        VERIFIER.verify(WebhookRequest(BODY, headers))
