"""`parse_event`: raw webhook bytes (or text, or a decoded mapping) to a typed event, fast."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, from_json

from ._errors import PayloadError
from ._events import Event, KnownEvent, UnknownEvent, known_event_name

__all__ = ["json_schema", "parse_event"]

DEFAULT_MAX_BYTES = 1_048_576
"""The default size limit for a webhook body: 1 MiB, far above any IDWise payload."""

_MAX_ERRORS_SHOWN = 5
_NOT_DECODED = object()
_NOT_AN_OBJECT = frozenset({"dict_type", "model_type", "model_attributes_type"})
# Above this size, decoding the JSON first and validating the Python objects beats validating
# the JSON text (1.2x at 64 KiB, 1.6x at 1 MiB, measured in benchmarks/parsing.py); below, it
# loses a little.
_LARGE_BODY = 2_048


class _Validators:
    """The validators, built once, on the first parse rather than at import (cold starts).

    The discriminated union of known events validates straight from JSON bytes in pydantic-core,
    with no Python call per request; other names take the slower fallback. The core validators
    are called directly: TypeAdapter's Python wrapper costs ~15% of a parse. Errors never show
    input values (the models hide them too): payloads carry personal data.
    """

    def __init__(self) -> None:
        config = ConfigDict(hide_input_in_errors=True)
        self.known = TypeAdapter(KnownEvent, config=config).validator
        self.unknown = _model_validator(UnknownEvent)
        self.name_only = _model_validator(_EventName)
        self._models = {
            model.event_type.value: model for model in get_args(get_args(KnownEvent)[0])
        }
        self._by_name: dict[str, Any] = {}

    def by_name(self, name: str) -> Any:
        """The validator of one known event, built the first time another spelling needs it."""
        validator = self._by_name.get(name)
        if validator is None:
            validator = self._by_name[name] = _model_validator(self._models[name])
        return validator


_built: _Validators | None = None


def _validators() -> _Validators:
    """The validators, built by the first call (a global, not a cache: this is the hot path)."""
    global _built
    if _built is None:
        _built = _Validators()
    return _built


def _model_validator(model: type[BaseModel]) -> Any:
    """A model's own validator (with its configuration), built now if it was deferred."""
    model.model_rebuild()
    return model.__pydantic_validator__


def parse_event(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Event:
    """Parse one IDWise webhook into its typed event.

    Args:
        body: The raw request body (``bytes`` straight from the framework is fastest), the same
            as text, or an already decoded JSON object.
        max_bytes: Refuse bodies larger than this many bytes (UTF-8 bytes for text); ``None``
            for no limit, when your server bounds the body size already. Not applied to an
            already decoded mapping.

    Returns:
        The model for the webhook type named by ``event``, or
        [`UnknownEvent`][idwise_events.UnknownEvent] when the name is not one this version knows.
        A name that differs from a known one only in case or spacing (``"Finished spot Check"``)
        gives that known model, its ``event`` the documented name (``"Finished Spot Check"``).

    Raises:
        PayloadError: For every bad input, and nothing else: bytes that are not UTF-8, text that is
            not JSON (``NaN`` and ``Infinity`` included), JSON that is not an object, a mapping
            holding values JSON cannot hold, a missing or non-string ``event``, a ``body`` that is
            not an object, a known event missing a required field, nesting too deep, or a body
            over ``max_bytes``. The message names the failing field; the pydantic error, which
            shows no input values, is the ``__cause__``.

    Example:
        ```python
        event = parse_event(request_body)
        if isinstance(event, FinishedJourney):
            print(event.body.journey_id, event.body.system_decision)
        ```
    """
    if isinstance(body, (bytes, bytearray)):
        if max_bytes is not None and len(body) > max_bytes:
            raise PayloadError(_too_large(len(body), max_bytes))
        if len(body) > _LARGE_BODY:
            return _parse_large(body)
        try:  # _parse_json, inlined: this is the path nearly every delivery takes
            event: KnownEvent = (_built or _validators()).known.validate_json(body, by_name=False)
        except ValidationError as exc:
            return _other_name_or_raise(exc, body)
        if _has_extra_fields(event):
            _refuse_non_finite_numbers(body)
            if not event.event_id:
                _refuse_infinity(event)
        return event
    if isinstance(body, str):
        # A character is 1 to 4 UTF-8 bytes: only encode when the count could be over the limit.
        if max_bytes is not None and len(body) * 4 > max_bytes:
            size = _utf8_size(body)
            if size > max_bytes:
                raise PayloadError(_too_large(size, max_bytes))
        return _parse_json(body)
    if isinstance(body, memoryview):
        return parse_event(body.tobytes(), max_bytes=max_bytes)
    if isinstance(body, Mapping):
        # Through JSON text, so a mapping is held to exactly what a body could carry: a value
        # JSON cannot hold (bytes, an object, NaN, a cycle) is refused here, not found later.
        return parse_event(_json_text(body), max_bytes=None)
    raise PayloadError(
        f"parse_event() takes bytes, str or a mapping, not {type(body).__name__}",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of [`Event`][idwise_events.Event], with the wire (camelCase) field names.

    Useful to document your endpoint (OpenAPI) or to validate payloads in another language.
    The known events are a ``oneOf`` on ``event``; any other ``event`` is an `UnknownEvent`.
    """
    return dict(_event_adapter().json_schema(by_alias=True, mode="validation"))


@cache
def _event_adapter() -> TypeAdapter[Event]:
    return TypeAdapter(Event)


class _EventName(BaseModel):
    """Only the ``event`` of an envelope: cheap to read, since the rest is not built."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, defer_build=True)
    event: str = Field(strict=True)


def _other_name_or_raise(
    exc: ValidationError, body: bytes | bytearray | str, decoded: object = _NOT_DECODED
) -> Event:
    """The event for a name not known exactly: another spelling of a known one, or unknown.

    ``decoded``: the body already decoded (a large one), to validate instead of the text again.
    Raises `PayloadError` unless the only problem was the event name.
    """
    errors = exc.errors(include_url=False, include_input=False)
    if errors[0]["type"] != "union_tag_invalid":
        raise PayloadError(_describe(errors)) from exc
    # The tag lookup failed: a name not known exactly (fine), or a non-string `event` (pydantic
    # looks up its text form), which `_EventName` refuses. It reads only the name, so another
    # spelling of a known name costs no Python objects for a body that is validated again below.
    name = None
    validators = _validators()
    try:
        if decoded is _NOT_DECODED:
            sent: _EventName = validators.name_only.validate_json(body, by_name=False)
            name = known_event_name(sent.event)
            validator = validators.unknown if name is None else validators.by_name(name)
            event: Event = validator.validate_json(body, by_name=False)
        else:
            sent = validators.name_only.validate_python(decoded, by_name=False)
            name = known_event_name(sent.event)
            validator = validators.unknown if name is None else validators.by_name(name)
            event = validator.validate_python(decoded, by_name=False)
            _refuse_infinity_in_its_key(event)
            return event  # decoded with NaN and Infinity refused
    except ValidationError as other_exc:
        details = other_exc.errors(include_url=False, include_input=False)
        raise PayloadError(_describe(details, event=name)) from other_exc
    _refuse_non_finite_numbers(body)
    _refuse_infinity_in_its_key(event)
    return event


def _refuse_infinity_in_its_key(event: Event) -> None:
    """`_refuse_infinity` where the key depends on the values: an unknown event, or no eventId.

    (A known event with an eventId keeps it, whichever spelling of its name was sent.)
    """
    if isinstance(event, UnknownEvent) or not event.event_id:
        _refuse_infinity(event)


def _parse_json(body: bytes | bytearray | str) -> Event:
    """Validate the JSON text as it is: the fastest way for all but large bodies."""
    try:
        event: KnownEvent = _validators().known.validate_json(body, by_name=False)
    except ValidationError as exc:
        return _other_name_or_raise(exc, body)
    if _has_extra_fields(event):
        _refuse_non_finite_numbers(body)
        if not event.event_id:
            _refuse_infinity(event)
    return event


def _has_extra_fields(event: KnownEvent) -> bool:
    """Whether any model of a known ``event`` kept unknown fields, the only place NaN can be.

    The typed fields refuse NaN and Infinity themselves; unknown fields take any JSON value. Most
    payloads have none, and then their text need not be searched for those words.
    """
    body = event.body
    if event.__pydantic_extra__ or body.__pydantic_extra__:
        return True
    steps: list[BaseModel] = body.__dict__.get("required_steps", ())  # the only nested models
    return any(step.__pydantic_extra__ for step in steps) if steps else False


def _parse_large(body: bytes | bytearray) -> Event:
    """A large body: decoded by pydantic-core's strict JSON parser, then validated as objects.

    Bytes only: text may hold lone surrogates, which decoding would keep and validating the
    JSON text refuses. A body that is not JSON takes the usual path, which reports it.
    """
    try:
        data = from_json(body, allow_inf_nan=False)  # refuses NaN and Infinity itself
    except ValueError:
        return _parse_json(body)
    try:
        event: KnownEvent = _validators().known.validate_python(data, by_name=False)
    except ValidationError as exc:
        return _other_name_or_raise(exc, body, data)
    if not event.event_id and _has_extra_fields(event):
        _refuse_infinity(event)
    return event


def _refuse_infinity(event: Event) -> None:
    """Raise `PayloadError` if a number of ``event``'s unknown fields is beyond a float's range.

    JSON allows ``1e999``, which decodes as infinity: two bodies that differ only there would
    then be one event (the same canonical JSON), and an unknown event's numeric eventId would be
    ``"inf"``. Checked where the key depends on it (unknown events, events without an eventId),
    off the path most deliveries take; a known event's typed fields refuse it themselves.
    """
    values: list[object] = [event.__pydantic_extra__]
    if isinstance(event, UnknownEvent):
        values.append(event.body)
    else:
        values.append(event.body.__pydantic_extra__)
        values.extend(
            step.__pydantic_extra__ for step in event.body.__dict__.get("required_steps", ())
        )
    while values:
        value = values.pop()
        if isinstance(value, float) and math.isinf(value):
            raise PayloadError("payload has a number beyond a float's range (about 1.8e308)")
        if isinstance(value, Mapping):
            values.extend(value.values())
        elif isinstance(value, list | tuple):
            values.extend(value)


def _refuse_non_finite_numbers(body: bytes | bytearray | str) -> None:
    """Raise `PayloadError` if ``body`` would be JSON but for NaN, Infinity or -Infinity.

    pydantic-core's ``validate_json`` reads those words, which are not JSON, as numbers, and has
    no option to refuse them; its JSON parser (``from_json``) has one. The typed fields refuse
    them anyway; this catches them in unknown fields and unknown events' bodies, with a search
    of the raw text rather than a Python call for every value (`_parse_large` needs neither: it
    decodes with that parser).
    """
    if isinstance(body, str):
        suspect = "NaN" in body or "Infinity" in body
    else:
        suspect = body.find(b"NaN") >= 0 or body.find(b"Infinity") >= 0
    if not suspect:  # the usual case; otherwise most often the words are inside a string
        return
    try:
        from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        try:
            from_json(body)  # JSON but for those words? Else validation says what is wrong.
        except ValueError:
            return
        raise PayloadError(
            f"payload is not valid JSON: {exc} (NaN and Infinity are not JSON numbers)"
        ) from exc


def _json_text(mapping: Mapping[str, Any]) -> str:
    """``mapping`` as JSON text; `PayloadError` if it holds a value JSON cannot represent."""
    try:
        return json.dumps(mapping, allow_nan=False, default=_mapping_as_dict)
    except RecursionError as exc:
        raise PayloadError("payload is nested too deeply to parse") from exc
    except (TypeError, ValueError) as exc:  # the messages name types, never values
        raise PayloadError(f"payload is not JSON: {exc}") from exc


def _mapping_as_dict(value: object) -> dict[Any, Any]:
    """For `json.dumps`: any other `Mapping` as a dict; anything else is not JSON."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not a JSON type")


def _describe(errors: list[ErrorDetails], *, event: str | None = None) -> str:
    """One line naming each failing field by its wire path; never the input values.

    ``event``: the known event the errors are about, when the locations do not start with it.
    """
    first = errors[0]
    if first["type"] == "json_invalid":
        reason = str(first.get("ctx", {}).get("error", first["msg"]))
        if "recursion limit" in reason:
            return f"payload is nested too deeply to parse ({reason})"
        return f"payload is not valid JSON: {reason}"
    if first["type"] == "string_unicode":
        return "payload is not valid UTF-8 text"
    if not first["loc"] and first["type"] in _NOT_AN_OBJECT:
        return "payload must be a JSON object"
    if first["type"] == "union_tag_not_found":
        return "payload has no 'event' field"
    tag, path_errors = _split_event_name(errors)
    event = event or tag
    parts = [
        # A decoded body's error says "a valid dictionary or instance of ...Body": as for text.
        f"{_wire_path(loc)}: {'Input should be an object' if kind in _NOT_AN_OBJECT else msg}"
        for loc, msg, kind in path_errors[:_MAX_ERRORS_SHOWN]
    ]
    if len(path_errors) > _MAX_ERRORS_SHOWN:
        parts.append(f"and {len(path_errors) - _MAX_ERRORS_SHOWN} more")
    subject = f"invalid {event!r} event" if event else "invalid webhook envelope"
    return f"{subject}: " + "; ".join(parts)


def _split_event_name(
    errors: list[ErrorDetails],
) -> tuple[str | None, list[tuple[tuple[int | str, ...], str, str]]]:
    """Take the union tag (the event name) off the front of each error location.

    A field that takes one of several types (an open enum, a deadline) fails once per type, each
    location ending in pydantic's label for it (``str-enum[SystemDecision]``): the field gets one
    error, its last type's, the most general (any string is accepted).
    """
    event = None
    located: dict[tuple[int | str, ...], tuple[str, str]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if loc and isinstance(loc[0], str) and loc[0] not in {"event", "body"}:
            event, loc = loc[0], loc[1:]
        loc = tuple(part for part in loc if isinstance(part, int) or part.isidentifier())
        located.pop(loc, None)  # kept in the order of the fields' last errors
        located[loc] = error["msg"], error["type"]
    return event, [(loc, msg, kind) for loc, (msg, kind) in located.items()]


def _wire_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(envelope)"


def _utf8_size(text: str) -> int:
    # surrogatepass: a lone surrogate must not raise here; validation reports it properly.
    return len(text.encode("utf-8", "surrogatepass"))


def _too_large(size: int, max_bytes: int) -> str:
    return f"payload is {size} bytes, over the {max_bytes}-byte limit"
