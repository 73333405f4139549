"""Changing the status answered for an outcome."""

from __future__ import annotations

# --8<-- [start:statuses]
from idwise_events import Dispatcher, Outcome, verifier_from_env

dispatcher = Dispatcher(
    verifier=verifier_from_env(),
    statuses={Outcome.UNAUTHORIZED: 403},  # every other outcome keeps its default status
)
# --8<-- [end:statuses]
