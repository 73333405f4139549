"""Claims that failed as far as the app knows, but that the database may have recorded.

A claim is one statement, committed on its own. When the answer does not come back in time (a
frozen network, a database paused mid-failover), the store reports the claim failed and the app
answers 503; but the server may run the statement once it resumes, leaving a claim that nobody
holds. IDWise's retries would then get 409 until that claim's lease ends: with a lease of half
an hour or more, after its last retry.

The token of such a claim is known, since the store made it: releasing it with that token drops
the claim if it was recorded, and does nothing otherwise (or if the lease has ended and another
delivery holds the event now: the release is fenced by the token). A claim of the same key from
this store releases them first, unless the database did not answer a moment ago; a daemon
thread releases the others once the database answers again, and stops when none are left.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import StoreError
from .._text import printable

__all__: list[str] = []

logger = logging.getLogger("idwise_events")

RETRY_EVERY = 2.0
"""Seconds between two rounds of releases while the database does not answer."""
MAX_UNSURE = 10_000
"""The most claims kept (the oldest are dropped): an outage under load must not grow memory."""


_CLAIM_RECORDED = (
    "the claim on %s that timed out had been recorded by the database after all;"
    " it is released, so the event's next delivery runs its handlers"
)


@dataclass
class _Claim:
    token: str
    ends: float  # when its lease ends (time.monotonic): then it blocks nobody any more
    absent: int = 0  # releases answered "not recorded": the statement may still be on its way


class UnsureClaims:
    """The unsure claims of one store, released with ``release(key, token)`` when possible."""

    def __init__(
        self,
        release: Callable[[str, str], bool],
        *,
        finished: Callable[[], None] | None = None,
        recorded: str = _CLAIM_RECORDED,
    ) -> None:
        self._release = release
        self._finished = finished  # called in the releasing thread as it ends (its connections)
        self._recorded = recorded  # the warning when one was recorded after all (%s: the key)
        self._claims: dict[str, list[_Claim]] = {}  # key -> its unsure claims, oldest first
        self._count = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failed_at = -RETRY_EVERY  # when a release last found the database not answering
        self._closed = False
        _all.add(self)

    def add(self, key: str, token: str, lease_seconds: float) -> None:
        """Remember a claim that failed without an answer; start releasing in the background."""
        with self._lock:
            if self._closed:
                return
            self._claims.setdefault(key, []).append(_Claim(token, time.monotonic() + lease_seconds))
            self._count += 1
            while self._count > MAX_UNSURE:
                oldest = next(iter(self._claims))
                self._count -= len(self._claims.pop(oldest))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._release_all, name="idwise-events-unsure-claims", daemon=True
                )
                self._thread.start()

    def settle(self, key: str) -> None:
        """Before claiming ``key``: release its unsure claims, if any (a failure is no matter).

        Not while the database did not answer a moment ago: the claim would wait for it twice.
        """
        if key not in self._claims:  # the common case: one dict lookup, no lock
            return
        if time.monotonic() - self._failed_at < RETRY_EVERY:
            return  # the thread's next round tries
        self._settle_key(key)

    def close(self) -> None:
        """Forget every unsure claim and stop the thread (the store is closed)."""
        with self._lock:
            self._closed = True
            self._claims.clear()
            self._count = 0

    def _release_all(self) -> None:
        try:
            self._release_rounds()
        finally:
            if self._finished is not None:
                self._finished()

    def _release_rounds(self) -> None:
        while True:
            time.sleep(RETRY_EVERY)
            with self._lock:
                now = time.monotonic()
                for key in list(self._claims):
                    claims = [claim for claim in self._claims[key] if claim.ends > now]
                    self._count -= len(self._claims[key]) - len(claims)
                    if claims:
                        self._claims[key] = claims
                    else:
                        del self._claims[key]
                if not self._claims:
                    self._thread = None
                    return
                keys = list(self._claims)
            for key in keys:
                if not self._settle_key(key):
                    break  # the database still does not answer: the next round tries again

    def _settle_key(self, key: str) -> bool:
        """Release ``key``'s unsure claims; False if the database did not answer."""
        with self._lock:
            claims = list(self._claims.get(key, ()))
        for claim in claims:
            outcome = self._released(key, claim.token)
            if outcome is None:
                self._failed_at = time.monotonic()
                return False
            with self._lock:
                kept = self._claims.get(key)
                if kept is None or claim not in kept:
                    continue
                # Not recorded (yet): the statement may reach the database after this release
                # did, so one more release, a round later, before the claim is forgotten.
                claim.absent += not outcome
                if outcome or claim.absent >= 2:
                    kept.remove(claim)
                    self._count -= 1
                    if not kept:
                        del self._claims[key]
        return True

    def _released(self, key: str, token: str) -> bool | None:
        """True: released; False: not recorded; None: the database did not answer."""
        try:
            recorded = self._release(key, token)
        except StoreError:
            return None
        except Exception:  # a bug or a refused value: retrying would not help
            logger.exception("releasing the unsure claim on %s failed", printable(key))
            return True
        if recorded:
            logger.warning(self._recorded, printable(key))
        return recorded

    def _forked(self) -> None:
        """In a forked child: the claims were the parent's to release, and its lock may be held."""
        self._lock = threading.Lock()
        self._claims = {}
        self._count = 0
        self._thread = None


_all: weakref.WeakSet[UnsureClaims] = weakref.WeakSet()


def _forked() -> None:
    for unsure in list(_all):
        unsure._forked()


os.register_at_fork(after_in_child=_forked)
