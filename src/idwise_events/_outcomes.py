"""The status policy: what each `Outcome` of a delivery answers, and the log record it leaves.

IDWise counts only HTTP 200 as delivered and retries anything else (after 5, 10 and 15 minutes),
so 200 means "never send this again" and every other status asks for a retry.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._events import Event
from ._inbox import MAX_LABEL_LENGTH
from ._request import Outcome, WebhookResponse
from ._text import printable

__all__ = ["Outcome"]

logger = logging.getLogger("idwise_events")


DEFAULT_STATUSES: Mapping[Outcome, int] = MappingProxyType(
    {
        Outcome.PROCESSED: 200,
        Outcome.ACCEPTED: 200,
        Outcome.DUPLICATE: 200,
        Outcome.IN_PROGRESS: 409,
        Outcome.METHOD_NOT_ALLOWED: 405,
        Outcome.TOO_LARGE: 413,
        Outcome.UNAUTHORIZED: 401,
        Outcome.INVALID: 400,
        Outcome.HANDLER_FAILED: 500,
        Outcome.STORE_UNAVAILABLE: 503,
    }
)

UNAVAILABLE_RETRY_AFTER = 30
"""Seconds to suggest waiting when the store is down (IDWise keeps its own schedule anyway)."""

_LEVELS = {
    Outcome.PROCESSED: logging.INFO,
    Outcome.ACCEPTED: logging.INFO,
    Outcome.DUPLICATE: logging.INFO,
    Outcome.IN_PROGRESS: logging.INFO,
    Outcome.METHOD_NOT_ALLOWED: logging.WARNING,
    Outcome.TOO_LARGE: logging.WARNING,
    Outcome.UNAUTHORIZED: logging.WARNING,
    Outcome.INVALID: logging.WARNING,
    Outcome.HANDLER_FAILED: logging.ERROR,
    Outcome.STORE_UNAVAILABLE: logging.ERROR,
}
_BODIES = {outcome: json.dumps({"outcome": outcome.value}).encode() for outcome in Outcome}


_BODILESS = frozenset({204, 205, 304})
"""Statuses whose answer has no body: servers drop it, or fail on its Content-Length."""


def responses_for(overrides: Mapping[Outcome, int]) -> dict[Outcome, WebhookResponse]:
    """The plain response to each outcome, with the default statuses but for ``overrides``.

    Built once per dispatcher, so that most deliveries are answered without building anything.

    Raises:
        TypeError: If a key is not an `Outcome`.
        ValueError: If a status is not that of a final answer (1xx are not), or is one that
            has no body (204, 205, 304): every answer carries the outcome's JSON.
    """
    statuses = dict(DEFAULT_STATUSES)
    for outcome, status in overrides.items():
        if not isinstance(outcome, Outcome):
            raise TypeError(f"statuses: keys must be Outcome members, not {outcome!r}")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(
                f"statuses: {status!r} is not the status of an HTTP answer ({outcome.name})"
            )
        if status in _BODILESS:
            raise ValueError(
                f"statuses: {status} is an answer without a body, which the outcome's JSON is"
                f" sent in ({outcome.name})"
            )
        statuses[outcome] = status
    return {
        outcome: WebhookResponse(
            status, _BODIES[outcome], MappingProxyType(_headers(outcome)), outcome
        )
        for outcome, status in statuses.items()
    }


_NOT_DONE = frozenset(
    {
        Outcome.IN_PROGRESS,
        Outcome.HANDLER_FAILED,
        Outcome.STORE_UNAVAILABLE,
        Outcome.UNAUTHORIZED,  # IDWise's own, when a rotation is half done
        Outcome.TOO_LARGE,
    }
)
"""Outcomes of events not processed, which IDWise must send again (INVALID's retry fails too)."""
_DONE = frozenset({Outcome.PROCESSED, Outcome.ACCEPTED, Outcome.DUPLICATE})


def warn_if_it_loses_events(overrides: Mapping[Outcome, int]) -> None:
    """Log each status that makes IDWise drop an event not processed, or resend one that was."""
    for outcome, status in overrides.items():
        if status == 200 and outcome in _NOT_DONE:
            logger.warning(
                "statuses: %s answered 200 loses its events: IDWise counts 200 as delivered and"
                " never sends them again, although they were not processed",
                outcome.name,
            )
        elif status != 200 and outcome in _DONE:
            logger.warning(
                "statuses: %s answered %d: IDWise counts only 200 as delivered, and sends each"
                " such event again until it gives up (the retries are answered as duplicates)",
                outcome.name,
                status,
            )


def _headers(outcome: Outcome, retry_after: int | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if outcome is Outcome.METHOD_NOT_ALLOWED:
        headers["Allow"] = "POST"
    return headers


@dataclass(slots=True)
class Delivered:
    """What the log record of one delivery says besides its outcome: filled in as it goes."""

    started: float
    """``time.perf_counter()`` when the delivery arrived."""
    client_ip: str | None = None
    event: Event | None = None


def respond(
    responses: Mapping[Outcome, WebhookResponse],
    outcome: Outcome,
    *,
    retry_after: int | None = None,
    detail: str | None = None,
) -> WebhookResponse:
    """The response for ``outcome``: the prebuilt one, unless it needs a header or a detail.

    The body is ``{"outcome": ...}``, with the reason a payload was refused as ``detail`` (it
    names fields, never their values).
    """
    response = responses[outcome]
    if retry_after is None and detail is None:
        return response
    body = response.body
    if detail is not None:
        body = json.dumps({"outcome": outcome.value, "detail": detail}).encode()
    return WebhookResponse(response.status, body, _headers(outcome, retry_after), outcome)


def log_delivery(
    delivered: Delivered,
    outcome: Outcome,
    status: int,
    *,
    detail: str | None = None,
    note: str | None = None,
    exc_info: BaseException | None = None,
    level: int | None = None,
) -> None:
    """The delivery's one log record, at the outcome's level unless ``level`` says otherwise.

    It carries ``event_type``, ``event_id``, ``outcome``, ``status``, ``duration_ms`` and
    ``client_ip`` as attributes; never a header value or the body. The sender's event name and
    id are escaped (no forged lines or terminal escapes), and cut short: in the message to 120
    characters, in the attributes to 255; the client IP is escaped and cut short too (an ASGI
    server may have taken it from a proxy header).
    """
    level = _LEVELS[outcome] if level is None else level
    if not logger.isEnabledFor(level):
        return
    event = delivered.event
    client_ip = delivered.client_ip
    if client_ip is not None:  # a proxy header's value under some servers: the sender's text
        client_ip = printable(client_ip)
    event_type = event_id = None
    if event is not None:
        # As the inbox labels them: long enough for any real id, never a body's worth per record.
        event_type = printable(event.event, MAX_LABEL_LENGTH)
        event_id = None if event.event_id is None else printable(event.event_id, MAX_LABEL_LENGTH)
        subject = f" {printable(event_type)} {printable(event_id or '(no eventId)')}"
    else:
        subject = f" from {client_ip}" if client_ip else ""
    duration_ms = (time.perf_counter() - delivered.started) * 1000
    logger.log(
        level,
        "IDWise webhook%s: %s, answered %d in %.1f ms%s",
        subject,
        outcome.value,
        status,
        duration_ms,
        "".join(f" ({printable(text, 1000)})" for text in (detail, note) if text),
        exc_info=exc_info,
        extra={
            "event_type": event_type,
            "event_id": event_id,
            "outcome": outcome.value,
            "status": status,
            "duration_ms": duration_ms,
            "client_ip": client_ip,
        },
    )
