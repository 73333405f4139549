"""Deliveries the way IDWise makes them: retried on anything but 200, on a schedule, bounded.

IDWise counts only HTTP 200 as delivered and retries after 5, 10 and 15 minutes. The scripts
keep that shape on a shorter clock (``schedule``), and keep retrying at the last interval until
their ``deadline``, so a run always ends in a bounded time: an event still undelivered then is
reported as lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

IDWISE_SCHEDULE = (0.5, 1.0, 1.5)  # IDWise's 5, 10 and 15 minutes, 600 times faster
REQUEST_TIMEOUT = 30.0  # one attempt: longer counts as a failed attempt (a hang)


@dataclass
class Answer:
    """One attempt: the status (0 when the connection failed), outcome, Retry-After, seconds."""

    status: int
    outcome: str
    retry_after: str | None
    seconds: float


@dataclass
class Delivery:
    """Every attempt of one delivery; ``delivered`` when the last was a 200."""

    key: str
    answers: list[Answer] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Whether the last attempt got a 200."""
        return bool(self.answers) and self.answers[-1].status == 200


def deliver(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    key: str,
    deadline: float,
    schedule: Sequence[float] = IDWISE_SCHEDULE,
) -> Delivery:
    """POST ``body`` until it gets a 200 or ``deadline`` (a `time.monotonic` value) passes."""
    delivery = Delivery(key)
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            response = client.post(
                url, content=body, headers=dict(headers), timeout=REQUEST_TIMEOUT
            )
        except httpx.TransportError:
            answer = Answer(0, "connection failed", None, time.monotonic() - started)
        else:
            try:
                outcome = str(response.json().get("outcome"))
            except ValueError:
                outcome = "not json"
            retry_after = response.headers.get("Retry-After")
            answer = Answer(response.status_code, outcome, retry_after, time.monotonic() - started)
        delivery.answers.append(answer)
        if answer.status == 200:
            return delivery
        pause = schedule[min(attempt, len(schedule) - 1)]
        attempt += 1
        if time.monotonic() + pause > deadline:
            return delivery
        time.sleep(pause)
