"""Shared test data: the model class for each event type."""

from __future__ import annotations

from typing import Any, get_args

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
