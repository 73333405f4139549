"""Dispatcher benchmark: `Dispatcher.handle` against the same steps called by hand.

Both sides process a new event on every call (a unique eventId in an otherwise fixed body, so
every claim succeeds and the handler runs), build the same `WebhookRequest`, verify a bearer
token, parse, fingerprint the body, claim and complete in a `MemoryStore`, and call one no-op
handler. What is left is the dispatcher's own glue: its step generator, the outcome and the
response it builds. Measured on a small body and on a 4 KiB one with 100 unknown fields (issue
17: fields IDWise may add, which parsing must not pay for one Python call each).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

from harness import Comparison
from idwise_events import (
    BearerAuth,
    Claimed,
    Dispatcher,
    Event,
    FinishedJourney,
    MemoryStore,
    WebhookRequest,
    fingerprint,
    parse_event,
)
from idwise_events.testing import auth_headers, make_event

TOKEN = "kqX0c2VjcmV0LXRva2VuLWZvci1iZW5jaG1hcmtz"  # noqa: S105 -- a benchmark's made-up token
LEASE = timedelta(minutes=5)  # the dispatcher's default
_PLACEHOLDER = "event-id-placeholder"
_EXTRA_FIELDS = {f"extra{index}": {"a": [1, 2, "x" * 4], "b": "y" * 4} for index in range(100)}
_IDS = itertools.count()


def _cut(**extra_fields: object) -> tuple[bytes, bytes]:
    """A FinishedJourney body with ``extra_fields``, cut where its eventId goes."""
    head, tail = (
        make_event(FinishedJourney, event_id=_PLACEHOLDER, **extra_fields)
        .model_dump_json(by_alias=True, exclude_none=True)
        .encode()
        .split(_PLACEHOLDER.encode())
    )
    return head, tail


# BODY_HEAD + unique id + BODY_TAIL: the small body (also sent by benchmarks/http_load.py).
BODY_HEAD, BODY_TAIL = _cut()
_HEAD_WITH_EXTRAS, _TAIL_WITH_EXTRAS = _cut(**_EXTRA_FIELDS)


def new_body() -> bytes:
    """The same FinishedJourney body each time, but with an eventId never used before."""
    return b"%sevt-%d%s" % (BODY_HEAD, next(_IDS), BODY_TAIL)


def new_body_with_extra_fields() -> bytes:
    """As `new_body`, about 4 KiB with 100 unknown fields."""
    return b"%sevt-%d%s" % (_HEAD_WITH_EXTRAS, next(_IDS), _TAIL_WITH_EXTRAS)


def no_op(event: Event) -> None:
    """The handler: does nothing, so that only the glue around it is measured."""


def dispatch_comparisons() -> list[Comparison]:
    return [
        _comparison("", new_body),
        _comparison(" (4 KiB, 100 extras)", new_body_with_extra_fields),
    ]


def _comparison(label: str, new_body: Callable[[], bytes]) -> Comparison:
    verifier = BearerAuth(TOKEN)
    headers = {"Content-Type": "application/json", **auth_headers(verifier)}

    dispatcher = Dispatcher(verifier=verifier, store=MemoryStore(), lease=LEASE)
    dispatcher.on(FinishedJourney)(no_op)

    def through_dispatcher() -> None:
        response = dispatcher.handle(WebhookRequest(new_body(), headers, "203.0.113.9"))
        assert response.status == 200

    store = MemoryStore()

    def by_hand() -> None:
        body = new_body()
        request = WebhookRequest(body, headers, "203.0.113.9")
        verifier.verify(request)
        event = parse_event(body)
        key = event.idempotency_key
        claim = store.claim(key, lease=LEASE, fingerprint=fingerprint(body))
        assert isinstance(claim, Claimed)
        no_op(event)
        store.complete(key, claim.token)

    through_dispatcher()  # both must work before they are timed
    by_hand()
    return Comparison(
        f"Dispatcher.handle{label} / the same steps by hand",
        through_dispatcher,
        by_hand,
        bar=1.25,
    )
