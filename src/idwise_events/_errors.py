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

    The message never says which credential or which part failed, and never echoes a header
    value: it may be shown to the sender. `reason` says it, for your own log.
    """

    def __init__(
        self, message: str = "missing or invalid credentials", *, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.reason: str = reason
        """Why the request was refused, for the server's log only (``""`` if not said).

        Such as ``"no Authorization header"``, ``"the Bearer token is not one of those
        configured"`` or ``"client address 198.51.100.7 is not in the allowlist"``. It names
        headers and what failed, never a secret or a header's value (the client's address,
        which is not secret, excepted). The `Dispatcher` logs it with the 401.
        """


class StoreError(IdwiseEventsError):
    """The idempotency store is unavailable (connection refused or lost, database locked...).

    The driver's exception is the ``__cause__``.
    """
