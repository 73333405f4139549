"""Verifier benchmarks: each verifier's per-request cost, next to parsing the same body.

No bar: the rows show microseconds. Each includes building the `WebhookRequest` from realistic
headers, as an adapter does for every delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from harness import Comparison
from idwise_events import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    IpAllowlist,
    NoAuth,
    Verifier,
    WebhookRequest,
)
from idwise_events.testing import auth_headers
from parsing import CURRENT, parse_current


def verifier_comparisons() -> list[Comparison]:
    """One row per verifier: ``verify`` on a fresh request, as a dispatcher would call it."""
    token, key = "kqX0c2VjcmV0LXRva2VuLWZvci1iZW5jaG1hcmtz", "7f3e9b1c5d2a4e6f8091a2b3c4d5e6f7"
    # NoAuth warns that it is unauthenticated; here that is the point, so keep stderr quiet.
    logging.getLogger("idwise_events").addHandler(logging.NullHandler())
    verifiers: list[tuple[str, Verifier]] = [
        ("NoAuth", NoAuth()),
        ("BasicAuth", BasicAuth("idwise", "correct-horse-battery-staple")),
        ("BearerAuth", BearerAuth([token, "previous-token-during-rotation"])),
        ("HeaderAuth", HeaderAuth({"X-Api-Key": key, "X-Tenant": "acme"})),
        ("IpAllowlist", IpAllowlist(["203.0.113.0/24", "2001:db8::/32"], trusted_proxies=1)),
        (
            "AllOf(Bearer, Header, IpAllowlist)",
            BearerAuth(token)
            & HeaderAuth({"X-Api-Key": key})
            & IpAllowlist(["203.0.113.0/24"], trusted_proxies=1),
        ),
    ]
    rows = []
    for name, verifier in verifiers:
        headers = {
            "Host": "hooks.example.com",
            "User-Agent": "IDWise-Webhooks",
            "Content-Type": "application/json",
            "Content-Length": str(len(CURRENT)),
            "Accept-Encoding": "gzip",
            "X-Forwarded-For": "203.0.113.9",
            **auth_headers(verifier),
        }
        verify = verify_fresh_request(verifier, headers)
        verify()  # the headers must pass, or the row would time an exception
        rows.append(Comparison(f"{name}.verify / parse_event(bytes)", verify, parse_current))
    return rows


def verify_fresh_request(verifier: Verifier, headers: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        verifier.verify(WebhookRequest(CURRENT, headers, "10.0.0.2"))

    return run
