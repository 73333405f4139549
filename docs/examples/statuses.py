"""Changing the status answered for an outcome."""

from __future__ import annotations

from idwise_events import Dispatcher, Outcome, verifier_from_env

# --8<-- [start:statuses]
dispatcher = Dispatcher(
    verifier=verifier_from_env(),
    statuses={Outcome.UNAUTHORIZED: 403},  # every other outcome keeps its default status
)
# --8<-- [end:statuses]
