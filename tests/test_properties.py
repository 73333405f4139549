"""Property tests of the model contracts, using the strategies shipped to users."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idwise_events import EventType, PayloadError, UnknownEvent, parse_event
from idwise_events.testing.strategies import (
    events,
    json_values,
    payloads,
    unknown_payloads,
)

from .conftest import MODELS

KNOWN_NAMES = sorted({*EventType, "AML Monior Update"})


@pytest.mark.parametrize("event_type", list(EventType))
@given(data=st.data())
def test_generated_payloads_parse_to_their_model(
    event_type: EventType, data: st.DataObject
) -> None:
    """Any payload IDWise could send (extra keys, unknown enum strings, legacy) parses."""
    payload = data.draw(payloads(event_type))

    event = parse_event(json.dumps(payload).encode())

    assert type(event) is MODELS[event_type]
    assert event.event == payload["event"]
    assert event.model_extra == {k: v for k, v in payload.items() if k not in ("event", "body")}


@pytest.mark.parametrize("event_type", list(EventType))
@given(data=st.data())
def test_dump_by_alias_then_parse_gives_an_equal_event(
    event_type: EventType, data: st.DataObject
) -> None:
    """model_dump_json(by_alias=True) is wire JSON that parses back to an equal event."""
    event = data.draw(events(event_type))

    again = parse_event(event.model_dump_json(by_alias=True).encode())

    assert again == event
    assert again.idempotency_key == event.idempotency_key


@pytest.mark.parametrize("event_type", list(EventType))
@given(data=st.data())
def test_read_only_unknown_fields_dump_and_compare_as_before(
    event_type: EventType, data: st.DataObject
) -> None:
    """Reading the unknown fields (which freezes them) changes no dump, key or comparison."""
    payload = data.draw(payloads(event_type))
    raw = json.dumps(payload).encode()
    event, untouched = parse_event(raw), parse_event(raw)

    assert not isinstance(event, UnknownEvent)
    assert isinstance(event.model_extra, dict)
    assert isinstance(event.body.model_extra, dict)
    # Only the bodies that declare steps: elsewhere `required_steps` may be an unknown field,
    # which attribute access reads too.
    if "required_steps" in type(event.body).model_fields:
        for step in event.body.__dict__["required_steps"]:
            assert isinstance(step.model_extra, dict)

    assert event == untouched
    assert event.model_dump_json(by_alias=True) == untouched.model_dump_json(by_alias=True)
    assert parse_event(event.model_dump_json(by_alias=True)) == untouched
    assert event.idempotency_key == untouched.idempotency_key


@given(payload=unknown_payloads())
def test_unknown_event_names_give_unknown_event_with_the_body_preserved(
    payload: dict[str, Any],
) -> None:
    """An event name we do not know is kept, with its body exactly as decoded."""
    event = parse_event(json.dumps(payload).encode())

    assert isinstance(event, UnknownEvent)
    assert event.event == payload["event"]
    assert event.body == payload["body"]
    assert parse_event(event.model_dump_json(by_alias=True)) == event


@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_raise_nothing_but_payload_error(body: bytes) -> None:
    """Random bytes either parse or raise PayloadError; never any other exception."""
    with contextlib.suppress(PayloadError):
        parse_event(body)


@given(body=st.text(max_size=300))
def test_arbitrary_text_raises_nothing_but_payload_error(body: str) -> None:
    """Random text either parses or raises PayloadError."""
    with contextlib.suppress(PayloadError):
        parse_event(body)


@given(value=json_values(max_leaves=20))
def test_arbitrary_json_raises_nothing_but_payload_error(value: Any) -> None:
    """Any JSON document, as bytes or decoded, either parses or raises PayloadError."""
    for body in (json.dumps(value).encode(), value):
        with contextlib.suppress(PayloadError):
            parse_event(body)


@given(
    name=st.sampled_from(KNOWN_NAMES),
    body=json_values(max_leaves=20),
    extra=st.dictionaries(st.text(max_size=5), json_values(max_leaves=3), max_size=2),
)
def test_known_event_names_with_arbitrary_bodies_raise_nothing_but_payload_error(
    name: str, body: Any, extra: dict[str, Any]
) -> None:
    """A known event name over any JSON body gives its model or PayloadError."""
    envelope = {**extra, "event": name, "body": body}
    try:
        event = parse_event(json.dumps(envelope).encode())
    except PayloadError:
        return
    assert event.event == name


@given(payload=payloads(legacy=False))
def test_idempotency_key_is_the_event_id_when_present(payload: dict[str, Any]) -> None:
    """Current payloads are deduplicated on the eventId IDWise repeats on every retry."""
    event = parse_event(json.dumps(payload).encode())

    assert event.event_id == payload["body"]["eventId"]
    assert event.idempotency_key == payload["body"]["eventId"]


@given(
    payload=payloads(legacy=True), seed=st.integers(), indent=st.sampled_from([None, 0, 2, "\t"])
)
def test_legacy_idempotency_key_ignores_key_order_and_whitespace(
    payload: dict[str, Any], seed: int, indent: int | str | None
) -> None:
    """A legacy payload (no eventId) resent with other key order or spacing gets the same key."""
    original = parse_event(json.dumps(payload).encode())
    resent = json.dumps(shuffled(payload, random.Random(seed)), indent=indent)

    event = parse_event(resent.encode())

    assert event.event_id is None
    assert event.idempotency_key == original.idempotency_key
    assert event.idempotency_key.startswith("sha256:")


@given(payload=payloads(legacy=True), data=st.data())
def test_legacy_idempotency_key_differs_when_any_value_differs(
    payload: dict[str, Any], data: st.DataObject
) -> None:
    """Changing any single value of a legacy payload changes its key."""
    leaves = list(leaf_paths(payload))
    path = data.draw(st.sampled_from(leaves))
    changed = with_changed_leaf(payload, path)

    before = parse_event(json.dumps(payload).encode())
    after = parse_event(json.dumps(changed).encode())

    assert after.idempotency_key != before.idempotency_key


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Any:
    """Paths to every scalar in a JSON value, except the event name (it selects the model)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if path or key != "event":
                yield from leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaf_paths(item, (*path, index))
    else:
        yield path


def with_changed_leaf(value: Any, path: tuple[Any, ...]) -> Any:
    """A copy of ``value`` with the scalar at ``path`` replaced by a different one of its kind."""
    if not path:
        return changed_scalar(value)
    head, *rest = path
    if isinstance(value, list):
        return [with_changed_leaf(v, tuple(rest)) if i == head else v for i, v in enumerate(value)]
    return {k: with_changed_leaf(v, tuple(rest)) if k == head else v for k, v in value.items()}


def changed_scalar(value: Any) -> Any:
    if value is None:
        return "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return repr(value)  # a string now: a different JSON value whatever the float
    return value + "x"
