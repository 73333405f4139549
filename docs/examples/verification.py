"""Verifying deliveries: one verifier per IDWise portal setting, rotation, combining, proxies."""

from __future__ import annotations

from idwise_events import BasicAuth, BearerAuth, HeaderAuth, IpAllowlist, Verifier
from idwise_events.testing import auth_headers

# The secrets below are placeholders: in your app they come from a secret store or the
# environment (see verifier_from_env), never from source code.


def portal_settings() -> dict[str, Verifier]:
    # --8<-- [start:portal]
    from idwise_events import BasicAuth, BearerAuth, HeaderAuth, NoAuth

    # "No Authentication": accepts every request, and logs a warning saying so.
    no_auth = NoAuth()

    # "Basic Authentication": the username and password entered in the portal.
    basic = BasicAuth("idwise", "correct-horse-battery-staple")

    # "Bearer Token": IDWise sends `Authorization: Bearer <token>`.
    bearer = BearerAuth("kqX0c2VjcmV0LXRva2Vu")

    # "Add Header": every key/value pair you added; all of them must match.
    headers = HeaderAuth({"X-Api-Key": "7f3e9b1c5d", "X-Tenant": "acme"})

    # Several settings at once: every part must pass.
    combined = BasicAuth("idwise", "correct-horse-battery-staple") & HeaderAuth(
        {"X-Api-Key": "7f3e9b1c5d"}
    )
    # --8<-- [end:portal]
    return {
        "no_auth": no_auth,
        "basic": basic,
        "bearer": bearer,
        "headers": headers,
        "combined": combined,
    }


def rotation() -> tuple[Verifier, Verifier]:
    # --8<-- [start:rotation]
    # 1. Accept the new token as well as the old one, and deploy.
    bearer = BearerAuth(["new-token-2f9a", "old-token-81c4"])
    # 2. Change the token in the IDWise portal. 3. Remove the old one, and deploy again.

    # The same for the other verifiers:
    basic = BasicAuth(credentials=[("idwise", "new-password"), ("idwise", "old-password")])
    headers = HeaderAuth({"X-Api-Key": ["new-key", "old-key"]})
    # --8<-- [end:rotation]
    assert isinstance(basic, BasicAuth)
    return bearer, headers


# --8<-- [start:allowlist]
from idwise_events import BearerAuth, IpAllowlist

# IDWise's IP ranges come from IDWise (they are not published): these are placeholders.
IDWISE_RANGES = ["203.0.113.0/24", "2001:db8:1d::/48"]

# The app faces the internet directly: the connecting peer is the client.
direct = IpAllowlist(IDWISE_RANGES)

# One reverse proxy of yours (nginx, a load balancer) in front of the app: the client is the
# address that proxy appended to X-Forwarded-For.
behind_one_proxy = IpAllowlist(IDWISE_RANGES, trusted_proxies=1)

# Restrict by address on top of a credential:
verifier = BearerAuth("kqX0c2VjcmV0LXRva2Vu") & IpAllowlist(IDWISE_RANGES, trusted_proxies=1)
# --8<-- [end:allowlist]

# --8<-- [start:handler]
from collections.abc import Mapping

from idwise_events import (
    PayloadError,
    VerificationError,
    WebhookRequest,
    parse_event,
    verifier_from_env,
)

VERIFIER = verifier_from_env()  # reads the IDWISE_WEBHOOK_* variables once, at startup


def handle(body: bytes, headers: Mapping[str, str], client_ip: str | None) -> int:
    """Your POST endpoint, in any framework: returns the HTTP status to answer."""
    try:
        VERIFIER.verify(WebhookRequest(body, headers, client_ip))
    except VerificationError:
        return 401  # no detail: a forger learns nothing about which check failed
    try:
        event = parse_event(body)  # only now is the body worth parsing
    except PayloadError:
        return 400  # a retry would send the same body: never 500 for it
    print("accepted", type(event).__name__)
    return 200


# --8<-- [end:handler]


if __name__ == "__main__":
    for name, portal_verifier in portal_settings().items():
        sent = auth_headers(portal_verifier)
        portal_verifier.verify(WebhookRequest(b"{}", sent))
        print(f"{name}: {sorted(sent)}")
    for rotated in rotation():
        rotated.verify(WebhookRequest(b"{}", auth_headers(rotated)))
    forwarded = {"X-Forwarded-For": "203.0.113.9", **auth_headers(verifier)}
    verifier.verify(WebhookRequest(b"{}", forwarded, client_ip="10.0.0.2"))
    spoofed = {"X-Forwarded-For": "203.0.113.9, 192.0.2.66", **auth_headers(verifier)}
    try:
        verifier.verify(WebhookRequest(b"{}", spoofed, client_ip="10.0.0.2"))
    except VerificationError:
        print("spoofed X-Forwarded-For refused")
    direct.verify(WebhookRequest(b"{}", client_ip="2001:db8:1d::9"))
    behind_one_proxy.verify(WebhookRequest(b"{}", forwarded, client_ip="10.0.0.2"))
