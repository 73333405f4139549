"""idwise_events.testing: make_event builds valid, realistic events with the changes asked for."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from idwise_events import (
    AmlMonitorUpdate,
    FinishedJourney,
    ManuallyReviewed,
    SystemDecision,
    parse_event,
)
from idwise_events.testing import SAMPLE_BODIES, make_event

from .conftest import MODELS


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
