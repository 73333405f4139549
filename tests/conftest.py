"""Shared test data: the model class for each event type, and the canary secret's guard."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from hypothesis import settings

from idwise_events import EventType, KnownEvent

# The machines running the suite are shared and noisy: no per-example deadline, which would only
# turn a slow moment into a flaky failure. Timings belong in benchmarks/run.py.
settings.register_profile("idwise", deadline=None)
settings.load_profile("idwise")

# EventType -> model class, read from the `KnownEvent` union itself so a new type cannot be missed.
MODELS: dict[EventType, type[Any]] = {
    model.event_type: model for model in get_args(get_args(KnownEvent)[0])
}

# A secret that must never show up anywhere it could leak: reprs, error messages, log records.
CANARY = "CANARY-s3cr3t-9f2b"


@pytest.fixture
def no_canary_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record of the test and fail it if one mentions the canary secret."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    assert CANARY not in caplog.text
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in repr(record.args)
        assert CANARY not in (record.exc_text or "")
