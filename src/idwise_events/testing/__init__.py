"""Helpers for testing your own webhook handlers without IDWise: events, headers, test doubles.

```python
from idwise_events import FinishedJourney
from idwise_events.testing import auth_headers, build_request, make_event

event = make_event(FinishedJourney, system_decision="Refer")  # or make_event("Finished Journey")
headers = auth_headers(verifier)  # what IDWise sends for the verifier's configuration
request = build_request(event, verifier)  # a WebhookRequest for Dispatcher.handle
```

`FakeClock` and `RecordingHandler` are the test doubles behind the pytest fixtures
(``idwise_clock``, ``idwise_handler``...) that
[`idwise_events.testing.pytest_plugin`][idwise_events.testing.pytest_plugin] gives every test
suite. Hypothesis strategies for property tests live in
[`idwise_events.testing.strategies`][idwise_events.testing.strategies] (needs ``hypothesis``).
"""

from __future__ import annotations

import base64
import difflib
import json
import threading
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel

from .._allowlist import IpAllowlist
from .._auth import AllOf, BasicAuth, BearerAuth, HeaderAuth, NoAuth, Verifier
from .._enums import EventType
from .._events import Event, KnownEvent
from .._request import WebhookRequest
from ._samples import (
    SAMPLE_BODIES,
    body_aliases,
    event_model,
    resolve_event_type,
    sample_envelope,
)
from ._sender import basic_authorization

__all__ = [
    "SAMPLE_BODIES",
    "FakeClock",
    "RecordingHandler",
    "auth_headers",
    "build_lambda_event",
    "build_request",
    "make_event",
]

_E = TypeVar("_E", bound=KnownEvent)


@overload
def make_event(event_type: type[_E], /, **fields: Any) -> _E: ...
@overload
def make_event(event_type: EventType | str, /, **fields: Any) -> KnownEvent: ...


def make_event(event_type: type[Any] | EventType | str, /, **fields: Any) -> Any:
    """Build a valid event of ``event_type``, as IDWise would send it, with your changes.

    Starts from [`SAMPLE_BODIES`][idwise_events.testing.SAMPLE_BODIES] plus a fresh random
    ``eventId``, then applies ``fields``: body fields by attribute name (``system_decision=``) or
    wire name (``systemDecision=``); unknown names become extra body fields; ``None`` removes a
    field, so ``event_id=None`` gives a legacy payload without an ``eventId``.

    Args:
        event_type: The event model (``FinishedJourney``; the result is typed with it), an
            [`EventType`][idwise_events.EventType] member, or the event name: any spelling
            [`parse_event`][idwise_events.parse_event] accepts, which goes on the wire as written
            (``"Finished Journey"``; the misspelt ``"AML Monior Update"`` gives an
            `AmlMonitorUpdate` that keeps that name). The hypothesis strategies take the same.
        **fields: The changes to the sample body. A name close to a field's but not one
            (``sytem_decision=``) is added all the same, with a warning: it is likely a typo.

    Raises:
        ValueError: If ``event_type`` is a name no IDWise webhook has.
        pydantic.ValidationError: If the changes make the body invalid for ``event_type``.
    """
    model, wire_name = resolve_event_type(event_type, caller="make_event")
    _warn_if_misspelt(model, fields)
    envelope = sample_envelope(model, wire_name, fields)
    return model.model_validate(envelope, by_name=False)


def _warn_if_misspelt(model: type[KnownEvent], fields: Mapping[str, Any]) -> None:
    """Warn of each unknown name that is close to a field's: a typo would pass unnoticed."""
    aliases = body_aliases(model)
    known = {*aliases, *aliases.values()}
    for name in fields:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            warnings.warn(
                f"make_event: {model.__name__} has no field {name!r} (did you mean {close[0]!r}?);"
                " it goes into the body as an extra field",
                UserWarning,
                stacklevel=3,
            )


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
    if not isinstance(verifier, (NoAuth, BasicAuth, BearerAuth, HeaderAuth, IpAllowlist, AllOf)):
        raise TypeError(
            "auth_headers() knows the verifiers idwise_events provides,"
            f" not {type(verifier).__name__}"
        )
    return _headers_for(verifier)


def _headers_for(verifier: Verifier) -> dict[str, str]:
    """The headers one verifier needs (none for one it does not know, inside an `AllOf`)."""
    if isinstance(verifier, BasicAuth):
        user, password = (part.get_secret_value() for part in verifier.credentials[0])
        return {"Authorization": basic_authorization(user, password)}
    if isinstance(verifier, BearerAuth):
        return {"Authorization": f"Bearer {verifier.tokens[0].get_secret_value()}"}
    if isinstance(verifier, HeaderAuth):
        return {name: values[0].get_secret_value() for name, values in verifier.headers.items()}
    if not isinstance(verifier, AllOf):
        return {}  # NoAuth, IpAllowlist, or a verifier of your own
    headers: dict[str, str] = {}
    spelling: dict[str, str] = {}  # lowercase name -> the spelling kept in `headers`
    for part in verifier.verifiers:
        for name, value in _headers_for(part).items():
            kept = spelling.setdefault(name.lower(), name)
            if headers.setdefault(kept, value) != value:
                raise ValueError(
                    f"AllOf: two verifiers need different {name!r} headers, so no request can pass"
                )
    return headers


def build_request(
    event: Event | bytes | str | Mapping[str, Any],
    verifier: Verifier | None = None,
    *,
    headers: dict[str, str] | None = None,
    client_ip: str | None = "127.0.0.1",
) -> WebhookRequest:
    """The `WebhookRequest` IDWise would send for ``event``, as an adapter would build it.

    Args:
        event: An event (sent as its wire JSON, ``model_dump_json(by_alias=True)``), a raw
            body to send exactly as given, or an envelope as a dict (sent as its JSON). An
            event type's name is refused: ``make_event("Finished Journey")`` is the event.
        verifier: Add the headers IDWise sends to an endpoint this verifier protects (see
            `auth_headers`); none when omitted.
        headers: More headers, added after (and over) those.
        client_ip: The connecting peer's address.

    Raises:
        ValueError: If ``event`` is the name of an event type rather than a body.

    Example:
        ```python
        response = dispatcher.handle(build_request(make_event(FinishedJourney), verifier))
        assert response.status == 200
        ```
    """
    body, sent = _body_and_headers("build_request", event, verifier, headers)
    return WebhookRequest(body, sent, client_ip=client_ip)


def build_lambda_event(
    event: Event | bytes | str | Mapping[str, Any],
    verifier: Verifier | None = None,
    *,
    shape: Literal["rest-v1", "http-v2", "function-url"] = "http-v2",
    headers: dict[str, str] | None = None,
    client_ip: str = "127.0.0.1",
    path: str = "/webhooks/idwise",
) -> dict[str, Any]:
    """The Lambda event of the POST IDWise would send for ``event``, as API Gateway builds it.

    For a function made with
    [`lambda_handler`][idwise_events.adapters.aws_lambda.lambda_handler], called as
    ``handler(event, None)``.

    Args:
        event: As for [`build_request`][idwise_events.testing.build_request]: an event, a raw
            body, or an envelope as a dict.
        verifier: Add the headers IDWise sends to an endpoint this verifier protects.
        headers: More headers, added after (and over) those.
        client_ip: The source address API Gateway reports.
        shape: ``"rest-v1"`` (API Gateway's REST API: a text body, ``multiValueHeaders``),
            ``"http-v2"`` (its HTTP API) or ``"function-url"`` (both: lowercase header names, a
            base64 body).
        path: The request's path, which the handler does not read.

    Example:
        ```python
        answer = handler(build_lambda_event(make_event(FinishedJourney), verifier), None)
        assert answer["statusCode"] == 200
        ```
    """
    body, sent = _body_and_headers("build_lambda_event", event, verifier, headers)
    if shape == "rest-v1":
        return {
            "resource": path,
            "path": path,
            "httpMethod": "POST",
            "headers": sent,
            "multiValueHeaders": {name: [value] for name, value in sent.items()},
            "body": body.decode("utf-8", "surrogateescape"),
            "isBase64Encoded": False,
            "requestContext": {"httpMethod": "POST", "identity": {"sourceIp": client_ip}},
        }
    if shape not in ("http-v2", "function-url"):
        raise ValueError(
            f"build_lambda_event: shape must be 'rest-v1', 'http-v2' or 'function-url', not"
            f" {shape!r}"
        )
    domain = "abcdef.lambda-url.eu-west-1.on.aws" if shape == "function-url" else "example.com"
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {name.lower(): value for name, value in sent.items()},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
        "requestContext": {
            "domainName": domain,
            "http": {"method": "POST", "path": path, "sourceIp": client_ip},
        },
    }


def _body_and_headers(
    caller: str,
    event: Event | bytes | str | Mapping[str, Any],
    verifier: Verifier | None,
    headers: dict[str, str] | None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers IDWise would send for ``event``, as `build_request` documents."""
    if isinstance(event, str):
        if event_model(event) is not None:  # "Finished Journey": make_event's argument
            raise ValueError(
                f"{caller}: {event!r} is an event type; a str is sent as the raw body:"
                f" {caller}(make_event({event!r}), verifier)"
            )
        body = event.encode()
    elif isinstance(event, bytes):
        body = event
    elif isinstance(event, Mapping):
        body = json.dumps(event).encode()
    elif isinstance(event, BaseModel):
        body = event.model_dump_json(by_alias=True).encode()
    else:
        raise TypeError(
            f"{caller}() takes an event, bytes, str or a dict envelope, not {type(event).__name__}"
        )
    sent = {"Content-Type": "application/json"}
    if verifier is not None:
        sent.update(auth_headers(verifier))
    sent.update(headers or {})
    return body, sent


class FakeClock:
    """A clock for stores that a test moves by hand, to expire leases without waiting.

    Pass it as the ``clock`` of [`MemoryStore`][idwise_events.MemoryStore] or
    [`SqlStore`][idwise_events.stores.sql.SqlStore]; it is what the ``idwise_clock`` fixture gives.

    Args:
        start: The time it shows until moved; timezone-aware.

    Example:
        ```python
        clock = FakeClock()
        store = MemoryStore(clock=clock)
        store.claim("event-1", lease=timedelta(minutes=5), fingerprint="f")
        clock.advance(minutes=6)  # the worker's lease has expired: the next claim takes over
        ```
    """

    def __init__(
        self, *, start: datetime = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock: start must be timezone-aware, as the stores compare UTC")
        self.now: datetime = start
        """The time the clock shows."""

    def __call__(self) -> datetime:
        """The time the clock shows."""
        return self.now

    def advance(self, delta: timedelta | None = None, /, **units: float) -> datetime:
        """Move the clock forward by ``delta`` or by ``timedelta(**units)``; return the new time.

        Example: ``clock.advance(minutes=6)``.
        """
        if delta is not None and not isinstance(delta, timedelta):
            raise TypeError(
                f"advance() takes a timedelta or units (seconds=5), not {type(delta).__name__}"
            )
        self.now += (delta or timedelta()) + timedelta(**units)
        return self.now

    def __repr__(self) -> str:
        return f"FakeClock({self.now.isoformat()})"


class RecordingHandler:
    """A handler that records the events it is given, and can fail on purpose.

    Register it like any handler (``dispatcher.on_any(handler)`` or
    ``dispatcher.on(FinishedJourney)(handler)``), deliver, then look at `events`. Make it raise
    with `fail_next` to test that a failed delivery is answered 500 and runs again on retry. It is
    what the ``idwise_handler`` fixture gives; it is safe to call from several threads.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        """The events it returned normally for, in the order received."""
        self.failures: list[Event] = []
        """The events it raised for (see `fail_next`)."""
        self._fail: list[Exception] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        """Record ``event``, or raise the error `fail_next` asked for (a failure, recorded too)."""
        with self._lock:
            if self._fail:
                self.failures.append(event)
                raise self._fail.pop(0)
            self.events.append(event)

    def fail_next(self, *, times: int = 1, error: Exception | None = None) -> None:
        """Raise on the next ``times`` calls: ``error``, or a `RuntimeError` by default."""
        with self._lock:
            for _ in range(times):
                self._fail.append(error or RuntimeError("RecordingHandler failing on purpose"))

    @property
    def event_ids(self) -> list[str | None]:
        """The ``eventId`` of each recorded event, in order."""
        return [event.event_id for event in self.events]

    def __repr__(self) -> str:
        return f"RecordingHandler(<{len(self.events)} events, {len(self.failures)} failures>)"
