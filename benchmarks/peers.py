"""Peers: what users compare a webhook receiver with, on the same body at each size.

``stripe.Webhook.construct_event`` (an HMAC signature check, then ``json.loads`` into an untyped
``StripeObject``) and svix's ``Webhook.verify`` (an HMAC check) followed by ``json.loads`` (a
dict): against ``BearerAuth.verify`` plus ``parse_event``, which returns a validated, typed model.
IDWise authenticates with a static credential, not a signature, so ours checks a token where
they compute an HMAC of the body; the rows say what each side returns. The peers' timestamps
are signed again every minute, so their time windows never expire mid-run.
Rows are skipped (with the reason) when the ``bench`` extra is not installed.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import time
from datetime import datetime, timezone
from typing import Any

from harness import Comparison
from idwise_events import BearerAuth, WebhookRequest, parse_event
from idwise_events.testing import auth_headers

OURS = "BearerAuth.verify + parse_event (typed model)"
STRIPE = "stripe.Webhook.construct_event (StripeObject, untyped)"
SVIX = "svix Webhook.verify + json.loads (dict, untyped)"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 -- a made-up signing secret
RESIGN_AFTER = 60.0  # seconds: re-signed well within both peers' five-minute tolerance


def peer_comparisons(sizes: dict[str, bytes]) -> tuple[list[Comparison], list[str]]:
    """Rows for each body size, and the reasons for rows that could not be built."""
    skipped = []
    try:
        stripe: Any = importlib.import_module("stripe")
    except ImportError:
        stripe = None
        skipped.append(f'{STRIPE}: skipped (pip install "idwise-events[bench]")')
    try:
        svix: Any = importlib.import_module("svix.webhooks")
    except ImportError:
        svix = None
        skipped.append(f'{SVIX}: skipped (pip install "idwise-events[bench]")')
    verifier = BearerAuth(SECRET)
    headers = {"Content-Type": "application/json", **auth_headers(verifier)}
    rows = []
    for label, body in sizes.items():
        number = max(3, 2_000_000 // len(body))

        def ours(body: bytes = body) -> object:
            verifier.verify(WebhookRequest(body, headers, "203.0.113.9"))
            return parse_event(body, max_bytes=None)

        ours()
        if stripe is not None:
            construct = _stripe(stripe, body)
            construct()
            rows.append(
                Comparison(f"verify+parse_event (typed) / stripe construct_event, {label}",
                           ours, construct, number=number,
                           series=(OURS, STRIPE), x=len(body))
            )  # fmt: skip
        if svix is not None:
            verify = _svix(svix, body)
            verify()
            rows.append(
                Comparison(f"verify+parse_event (typed) / svix verify+json.loads, {label}",
                           ours, verify, number=number,
                           series=(OURS, SVIX), x=len(body))
            )  # fmt: skip
    return rows, skipped


def _stripe(stripe: Any, body: bytes) -> Any:
    state: dict[str, Any] = {"signed": 0.0, "header": ""}

    def sign() -> None:
        state["signed"] = time.monotonic()
        stamp = int(time.time())
        mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        state["header"] = f"t={stamp},v1={mac}"

    sign()

    def construct() -> object:
        if time.monotonic() - state["signed"] > RESIGN_AFTER:  # a clock read: ~50 ns
            sign()
        return stripe.Webhook.construct_event(body, state["header"], SECRET)

    return construct


def _svix(svix: Any, body: bytes) -> Any:
    import json

    webhook = svix.Webhook(SECRET)
    state: dict[str, Any] = {"signed": 0.0}

    def sign() -> None:
        state["signed"] = time.monotonic()
        now = datetime.now(timezone.utc)
        signature = webhook.sign("msg_bench", now, body.decode())
        state["headers"] = {
            "svix-id": "msg_bench",
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": signature,
        }

    sign()

    def verify() -> object:
        if time.monotonic() - state["signed"] > RESIGN_AFTER:
            sign()
        webhook.verify(body, state["headers"])
        return json.loads(body)

    return verify
