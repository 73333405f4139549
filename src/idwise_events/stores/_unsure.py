"""Claims that failed as far as the app knows, but that the database may have recorded.

A claim is one statement, committed on its own. When the answer does not come back in time (a
frozen network, a database paused mid-failover), the store reports the claim failed and the app
answers 503; but the server may run the statement once it resumes, leaving a claim that nobody
holds. IDWise's retries would then get 409 until that claim's lease ends: with a lease of half
an hour or more, after its last retry.

The token of such a claim is known, since the store made it: releasing it with that token drops
the claim if it was recorded, and does nothing otherwise (or if the lease has ended and another
delivery holds the event now). A claim of the same key from this store releases it first; a
daemon thread releases the others once the database answers again, and stops when none are left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .._errors import StoreError
from .._text import printable

__all__: list[str] = []

logger = logging.getLogger("idwise_events")

RETRY_EVERY = 2.0
"""Seconds between two rounds of releases while the database does not answer."""
MAX_UNSURE = 10_000
"""The most claims kept (the oldest are dropped): an outage under load must not grow memory."""


class UnsureClaims:
    """The unsure claims of one store, released with ``release(key, token)`` when possible."""

    def __init__(self, release: Callable[[str, str], bool]) -> None:
        self._release = release
        self._claims: dict[str, tuple[str, float]] = {}  # key -> (token, its lease's end)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, key: str, token: str, lease_seconds: float) -> None:
        """Remember a claim that failed without an answer; start releasing in the background."""
        with self._lock:
            self._claims.pop(key, None)
            self._claims[key] = (token, time.monotonic() + lease_seconds)
            while len(self._claims) > MAX_UNSURE:
                del self._claims[next(iter(self._claims))]
            if self._thread is None or not self._thread.is_alive():  # (none after a fork)
                self._thread = threading.Thread(
                    target=self._release_all, name="idwise-events-unsure-claims", daemon=True
                )
                self._thread.start()

    def settle(self, key: str) -> None:
        """Before claiming ``key``: release its unsure claim, if any (a failure is no matter)."""
        if key not in self._claims:  # the common case: one dict lookup, no lock
            return
        with self._lock:
            unsure = self._claims.pop(key, None)
        if unsure is not None and not self._released(key, unsure[0]):
            with self._lock:
                self._claims.setdefault(key, unsure)

    def _release_all(self) -> None:
        while True:
            time.sleep(RETRY_EVERY)
            with self._lock:
                now = time.monotonic()
                for key in [key for key, (_, end) in self._claims.items() if end <= now]:
                    del self._claims[key]  # its lease has ended: it blocks nobody any more
                pending = list(self._claims.items())
                if not pending:
                    self._thread = None
                    return
            for key, (token, _end) in pending:
                if not self._released(key, token):
                    break  # the database still does not answer: the next round tries again
                with self._lock:
                    if self._claims.get(key, (None,))[0] == token:
                        del self._claims[key]

    def _released(self, key: str, token: str) -> bool:
        """Whether the claim is settled: released, or found not recorded (False: no answer)."""
        try:
            recorded = self._release(key, token)
        except StoreError:
            return False
        except Exception:  # a bug or a refused value: retrying would not help
            logger.exception("releasing the unsure claim on %s failed", printable(key))
            return True
        if recorded:
            logger.warning(
                "the claim on %s that timed out had been recorded by the database after all;"
                " it is released, so the event's next delivery runs its handlers",
                printable(key),
            )
        return True
