"""The exceptions idwise_events raises, all under one root.

```
IdwiseEventsError            catch this to catch everything the library raises on purpose
 ├── PayloadError            the request body is not a valid IDWise webhook envelope
 ├── VerificationError       the request did not carry the configured credentials
 └── StoreError              the idempotency store could not be reached or did not answer
```

Messages never contain header values, secrets or the raw body; the underlying exception, when
there is one, is kept as ``__cause__``.
"""

from __future__ import annotations

__all__ = ["IdwiseEventsError", "PayloadError", "StoreError", "VerificationError"]


class IdwiseEventsError(Exception):
    """Root of every exception that idwise_events raises on purpose."""


class PayloadError(IdwiseEventsError):
    """The body is not a valid IDWise webhook.

    Raised by [`parse_event`][idwise_events.parse_event] for every kind of bad input: bytes that are
    not UTF-8, text that is not JSON, JSON that is not an envelope object, an envelope whose
    ``event`` is missing or not a string, a ``body`` that is not an object, a known event missing a
    required field, nesting deeper than the JSON parser allows, or a body over ``max_bytes``.
    The message names the field that failed; the pydantic error, when there is one, is the
    ``__cause__``.
    """


class VerificationError(IdwiseEventsError):
    """The request failed authentication (wrong, missing or malformed credentials).

    The message never says which credential or which part failed, and never echoes a header value.
    """


class StoreError(IdwiseEventsError):
    """The idempotency store is unavailable (connection refused or lost, database locked...).

    The driver's exception is the ``__cause__``.
    """
