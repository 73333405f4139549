"""`parse_event`: raw webhook bytes (or text, or a decoded mapping) to a typed event, fast."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from ._errors import PayloadError
from ._events import Event, KnownEvent, UnknownEvent

__all__ = ["DEFAULT_MAX_BYTES", "json_schema", "parse_event"]

DEFAULT_MAX_BYTES = 1_048_576
"""The default size limit for a webhook body: 1 MiB, far above any IDWise payload."""

# Built once: the discriminated union of known events validates straight from JSON bytes in
# pydantic-core, with no Python call per request. Unknown names take the slower fallback below.
# The core validator is called directly: TypeAdapter's Python wrapper costs ~15% of a parse.
_KNOWN = TypeAdapter(KnownEvent).validator
_UNKNOWN = TypeAdapter(UnknownEvent).validator
_MAX_ERRORS_SHOWN = 5


def parse_event(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Event:
    """Parse one IDWise webhook into its typed event.

    Args:
        body: The raw request body (``bytes`` straight from the framework is fastest), the same
            as text, or an already decoded JSON object.
        max_bytes: Refuse bodies larger than this many bytes (UTF-8 bytes for text). Not applied
            to an already decoded mapping.

    Returns:
        The model for the webhook type named by ``event``, or
        [`UnknownEvent`][idwise_events.UnknownEvent] when the name is not one this version knows.

    Raises:
        PayloadError: For every bad input, and nothing else: bytes that are not UTF-8, text that is
            not JSON, JSON that is not an object, a missing or non-string ``event``, a ``body``
            that is not an object, a known event missing a required field, nesting too deep, or a
            body over ``max_bytes``. The message names the failing field; the pydantic error is the
            ``__cause__``.

    Example:
        ```python
        event = parse_event(request_body)
        if isinstance(event, FinishedJourney):
            print(event.body.journey_id, event.body.system_decision)
        ```
    """
    if isinstance(body, (bytes, bytearray)):
        if len(body) > max_bytes:
            raise PayloadError(_too_large(len(body), max_bytes))
        try:
            event: KnownEvent = _KNOWN.validate_json(body, by_name=False)
        except ValidationError as exc:
            return _unknown_or_raise(exc, body, _UNKNOWN.validate_json)
        return event
    if isinstance(body, str):
        # A character is 1 to 4 UTF-8 bytes: only encode when the count could be over the limit.
        size = len(body) if len(body) * 4 <= max_bytes else _utf8_size(body)
        if size > max_bytes:
            raise PayloadError(_too_large(size, max_bytes))
        try:
            event = _KNOWN.validate_json(body, by_name=False)
        except ValidationError as exc:
            return _unknown_or_raise(exc, body, _UNKNOWN.validate_json)
        return event
    if isinstance(body, memoryview):
        return parse_event(body.tobytes(), max_bytes=max_bytes)
    if isinstance(body, Mapping):
        try:
            event = _KNOWN.validate_python(body, by_name=False)
        except ValidationError as exc:
            return _unknown_or_raise(exc, body, _UNKNOWN.validate_python)
        return event
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


def _unknown_or_raise(
    exc: ValidationError, body: Any, validate_unknown: Callable[..., UnknownEvent]
) -> UnknownEvent:
    """Return an `UnknownEvent` if the only problem is an unknown event name, else raise."""
    errors = exc.errors(include_url=False, include_input=False)
    if errors[0]["type"] != "union_tag_invalid":
        raise PayloadError(_describe(errors)) from exc
    # The tag lookup failed: either an event name we do not know (fine), or a non-string
    # `event` (pydantic looks up its text form), which the strict `UnknownEvent.event` refuses.
    try:
        unknown: UnknownEvent = validate_unknown(body, by_name=False)
    except ValidationError as unknown_exc:
        details = unknown_exc.errors(include_url=False, include_input=False)
        raise PayloadError(_describe(details)) from unknown_exc
    return unknown


def _describe(errors: list[ErrorDetails]) -> str:
    """One line naming each failing field by its wire path; never the input values."""
    first = errors[0]
    if first["type"] == "json_invalid":
        reason = str(first.get("ctx", {}).get("error", first["msg"]))
        if "recursion limit" in reason:
            return f"payload is nested too deeply to parse ({reason})"
        return f"payload is not valid JSON: {reason}"
    if first["type"] == "string_unicode":
        return "payload is not valid UTF-8 text"
    if not first["loc"] and first["type"] in {"dict_type", "model_type", "model_attributes_type"}:
        return "payload must be a JSON object"
    if first["type"] == "union_tag_not_found":
        return "payload has no 'event' field"
    event, path_errors = _split_event_name(errors)
    parts = [f"{_wire_path(loc)}: {msg}" for loc, msg in path_errors[:_MAX_ERRORS_SHOWN]]
    if len(path_errors) > _MAX_ERRORS_SHOWN:
        parts.append(f"and {len(path_errors) - _MAX_ERRORS_SHOWN} more")
    subject = f"invalid {event!r} event" if event else "invalid webhook envelope"
    return f"{subject}: " + "; ".join(parts)


def _split_event_name(
    errors: list[ErrorDetails],
) -> tuple[str | None, list[tuple[tuple[int | str, ...], str]]]:
    """Take the union tag (the event name) off the front of each error location."""
    event = None
    located = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc and isinstance(loc[0], str) and loc[0] not in {"event", "body"}:
            event, loc = loc[0], loc[1:]
        located.append((loc, error["msg"]))
    return event, located


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
