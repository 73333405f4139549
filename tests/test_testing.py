"""idwise_events.testing: make_event builds realistic events, auth_headers what IDWise sends."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from idwise_events import (
    AllOf,
    AmlMonitorUpdate,
    BasicAuth,
    BearerAuth,
    FinishedJourney,
    HeaderAuth,
    IpAllowlist,
    ManuallyReviewed,
    NoAuth,
    SystemDecision,
    Verifier,
    WebhookRequest,
    parse_event,
)
from idwise_events.testing import SAMPLE_BODIES, auth_headers, make_event

from .conftest import CANARY, MODELS


@pytest.mark.parametrize("model", list(MODELS.values()), ids=lambda model: model.__name__)
def test_make_event_builds_every_type_with_a_fresh_event_id(model: type[FinishedJourney]) -> None:
    """Each event type gets a valid event with a new eventId per call."""
    first, second = make_event(model), make_event(model)

    assert type(first) is model
    assert first.event_id is not None
    assert second.event_id is not None
    assert first.event_id != second.event_id
    assert parse_event(first.model_dump_json(by_alias=True)) == first


def test_make_event_applies_changes_by_attribute_or_wire_name() -> None:
    """Changes may use snake_case names or camelCase wire names."""
    by_name = make_event(AmlMonitorUpdate, updated_aml_version_number=4, system_decision="Refer")
    by_alias = make_event(ManuallyReviewed, manualDecision="Rejected")

    assert by_name.body.updated_aml_version_number == 4
    assert by_name.body.system_decision is SystemDecision.REFER
    assert by_alias.body.manual_decision == "Rejected"


def test_make_event_keeps_unknown_names_as_extra_fields_and_none_removes() -> None:
    """Unknown names become extra body fields; None removes a field (legacy: no eventId)."""
    event = make_event(FinishedJourney, riskScore=0.3, event_id=None, reference_no=None)

    assert event.body.model_extra == {"riskScore": 0.3}
    assert event.event_id is None
    assert event.body.reference_no is None
    assert event.idempotency_key.startswith("sha256:")


def test_make_event_refuses_changes_that_break_the_model() -> None:
    """Removing a required field is reported, not papered over."""
    with pytest.raises(ValidationError, match="journeyId"):
        make_event(FinishedJourney, journey_id=None)


def test_sample_bodies_do_not_change_between_calls() -> None:
    """make_event copies the samples; it never edits them."""
    before = {model: dict(body) for model, body in SAMPLE_BODIES.items()}
    make_event(FinishedJourney, system_decision="Refer", journey_id="other")
    assert before == SAMPLE_BODIES


@pytest.mark.parametrize(
    ("verifier", "expected"),
    [
        (BasicAuth("idwise", "p:w"), {"Authorization": "Basic aWR3aXNlOnA6dw=="}),
        (BearerAuth(["current", "previous"]), {"Authorization": "Bearer current"}),
        (
            HeaderAuth({"X-Api-Key": ["new", "old"], "X-Tenant": "acme"}),
            {"X-Api-Key": "new", "X-Tenant": "acme"},
        ),
        (
            BearerAuth("token") & HeaderAuth({"X-Api-Key": "key"}) & IpAllowlist(["192.0.2.0/24"]),
            {"Authorization": "Bearer token", "X-Api-Key": "key"},
        ),
        (IpAllowlist(["192.0.2.0/24"]), {}),
    ],
    ids=lambda value: type(value).__name__,
)
def test_auth_headers_are_what_idwise_sends_and_pass_verification(
    verifier: Verifier, expected: dict[str, str]
) -> None:
    """They carry the first (current) credential of each kind, and the verifier accepts them."""
    headers = auth_headers(verifier)

    assert headers == expected
    verifier.verify(WebhookRequest(b"{}", headers, client_ip="192.0.2.1"))


def test_auth_headers_for_no_auth_are_empty() -> None:
    """NoAuth needs no header at all."""
    assert auth_headers(NoAuth()) == {}


def test_auth_headers_refuse_a_configuration_no_request_can_satisfy() -> None:
    """Basic and Bearer together would need two Authorization headers: that is an error."""
    with pytest.raises(ValueError, match="different 'Authorization' headers") as caught:
        auth_headers(AllOf(BasicAuth("idwise", CANARY), BearerAuth(CANARY)))

    assert CANARY not in str(caught.value)
    same = AllOf(BearerAuth(CANARY), HeaderAuth({"authorization": f"Bearer {CANARY}"}))
    assert auth_headers(same) == {"Authorization": f"Bearer {CANARY}"}


class OwnVerifier:
    """A verifier of the user's own: auth_headers cannot know what it needs."""

    def verify(self, request: WebhookRequest) -> None:
        """Accept everything."""


def test_auth_headers_refuse_unknown_verifiers_but_skip_them_inside_all_of() -> None:
    """Alone, an unknown verifier is a TypeError; inside AllOf it adds no headers."""
    with pytest.raises(TypeError, match="not OwnVerifier"):
        auth_headers(OwnVerifier())

    assert auth_headers(BearerAuth("token") & OwnVerifier()) == {"Authorization": "Bearer token"}
