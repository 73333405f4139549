"""Helpers for testing your own webhook handlers without IDWise: realistic events and headers.

```python
from idwise_events import FinishedJourney
from idwise_events.testing import auth_headers, make_event

event = make_event(FinishedJourney, system_decision="Refer")
headers = auth_headers(verifier)  # what IDWise sends for the verifier's configuration
request = build_request(event, verifier)  # a WebhookRequest for Dispatcher.handle
```

Hypothesis strategies for property tests live in
[`idwise_events.testing.strategies`][idwise_events.testing.strategies] (needs ``hypothesis``).
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from .._auth import Verifier, _Combinable
from .._events import (
    AmlMonitorUpdate,
    Event,
    FinishedJourney,
    FinishedOngoingCheck,
    FinishedSpotCheck,
    FinishedStep,
    FinishedUserSteps,
    KnownEvent,
    KycRenewalDeadlineExceeded,
    ManuallyReviewed,
    StepSubmitted,
    UpdatedJourney,
    VerificationUpdateRequired,
)
from .._request import WebhookRequest

__all__ = ["SAMPLE_BODIES", "auth_headers", "build_request", "make_event"]

_JOURNEY = {"journeyId": "6720a1f3c9e84b2d5f0e122e", "referenceNo": "cust-000842"}

SAMPLE_BODIES: dict[type[Any], dict[str, Any]] = {
    FinishedJourney: {**_JOURNEY, "systemDecision": "Complete"},
    ManuallyReviewed: {
        **_JOURNEY,
        "systemDecision": "Refer",
        "manualDecision": "Approved",
        "finalDecision": "Approved",
    },
    AmlMonitorUpdate: {
        **_JOURNEY,
        "systemDecision": "Refer",
        "previousSystemDecision": "Complete",
        "updatedAMLVersionNumber": 1,
    },
    FinishedUserSteps: {**_JOURNEY, "systemDecision": "Incomplete"},
    FinishedStep: {**_JOURNEY, "stepId": "20"},
    UpdatedJourney: {
        **_JOURNEY,
        "systemDecision": "Refer",
        "manualDecision": None,
        "finalDecision": "Refer",
        "action": "AML OGM Update",
    },
    VerificationUpdateRequired: {
        **_JOURNEY,
        "systemDecision": "Complete",
        "manualDecision": None,
        "finalDecision": "Complete",
        "trigger": "KYC Renewal",
        "requiredSteps": [{"stepId": "20", "reasonCode": "DOCUMENT_EXPIRED"}],
    },
    KycRenewalDeadlineExceeded: {
        **_JOURNEY,
        "requiredSteps": [{"stepId": "20", "renewalDeadline": "2025-09-15T00:00:00Z"}],
    },
    FinishedSpotCheck: {
        "referenceNo": "cust-000842",
        "systemDecision": "Complete",
        "spotCheckJourneyId": "65ee41b09c2d7f3a18d700ca",
    },
    FinishedOngoingCheck: {
        **_JOURNEY,
        "systemDecision": "Complete",
        "ongoingCheckId": "65ee41b09c2d7f3a18d700ca",
    },
    StepSubmitted: {**_JOURNEY, "stepId": "1", "stepType": "Document"},
}
"""A realistic wire body (without ``eventId``) for each event model, after IDWise's examples."""

_E = TypeVar("_E", bound=KnownEvent)


def make_event(event_type: type[_E], /, **fields: Any) -> _E:
    """Build a valid event of ``event_type``, as IDWise would send it, with your changes.

    Starts from [`SAMPLE_BODIES`][idwise_events.testing.SAMPLE_BODIES] plus a fresh random
    ``eventId``, then applies ``fields``: body fields by attribute name (``system_decision=``) or
    wire name (``systemDecision=``); unknown names become extra body fields; ``None`` removes a
    field, so ``event_id=None`` gives a legacy payload without an ``eventId``.

    Raises:
        pydantic.ValidationError: If the changes make the body invalid for ``event_type``.
    """
    body_model = cast("type[BaseModel]", event_type.model_fields["body"].annotation)
    aliases = {name: field.alias or name for name, field in body_model.model_fields.items()}
    body: dict[str, Any] = {"eventId": str(uuid.uuid4()), **SAMPLE_BODIES[event_type]}
    for name, value in fields.items():
        key = aliases.get(name, name)
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    envelope = {"event": event_type.event_type.value, "body": body}
    # mypy widens `type[_E]` to its bound's union here; the class we call is the one we return.
    return cast(_E, event_type.model_validate(envelope, by_name=False))


def auth_headers(verifier: Verifier) -> dict[str, str]:
    """The headers IDWise sends to an endpoint that ``verifier`` protects.

    For each credential verifier, the first (current) credential: ``Authorization`` for
    [`BasicAuth`][idwise_events.BasicAuth] and [`BearerAuth`][idwise_events.BearerAuth], every
    configured header for [`HeaderAuth`][idwise_events.HeaderAuth], all of them for
    [`AllOf`][idwise_events.AllOf]. [`NoAuth`][idwise_events.NoAuth] and
    [`IpAllowlist`][idwise_events.IpAllowlist] add none (set the request's ``client_ip`` instead),
    nor do verifiers of your own inside an `AllOf`.

    Raises:
        TypeError: If ``verifier`` is not one of the verifiers idwise_events provides.
        ValueError: If two parts of an `AllOf` need different values for one header, so that no
            request could pass.

    Example:
        ```python
        verifier = BearerAuth("test-token") & HeaderAuth({"X-Tenant": "acme"})
        request = WebhookRequest(body, auth_headers(verifier))
        verifier.verify(request)  # passes
        ```
    """
    if not isinstance(verifier, _Combinable):
        raise TypeError(
            "auth_headers() knows the verifiers idwise_events provides,"
            f" not {type(verifier).__name__}"
        )
    return verifier._example_headers()


def build_request(
    event: Event | bytes | str,
    verifier: Verifier | None = None,
    *,
    headers: dict[str, str] | None = None,
    client_ip: str | None = "127.0.0.1",
) -> WebhookRequest:
    """The `WebhookRequest` IDWise would send for ``event``, as an adapter would build it.

    Args:
        event: An event (sent as its wire JSON, ``model_dump_json(by_alias=True)``), or a raw
            body to send exactly as given.
        verifier: Add the headers IDWise sends to an endpoint this verifier protects (see
            `auth_headers`); none when omitted.
        headers: More headers, added after (and over) those.
        client_ip: The connecting peer's address.

    Example:
        ```python
        response = dispatcher.handle(build_request(make_event(FinishedJourney), verifier))
        assert response.status == 200
        ```
    """
    if isinstance(event, str):
        body = event.encode()
    elif isinstance(event, bytes):
        body = event
    else:
        body = event.model_dump_json(by_alias=True).encode()
    sent = {"Content-Type": "application/json"}
    if verifier is not None:
        sent.update(auth_headers(verifier))
    sent.update(headers or {})
    return WebhookRequest(body, sent, client_ip=client_ip)
