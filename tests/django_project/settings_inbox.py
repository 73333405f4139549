"""The test project with ``IDWISE_EVENTS["INBOX"]`` on: what its worker processes run with."""

from __future__ import annotations

from .settings import *  # noqa: F403 -- the same project, one setting changed
from .settings import TOKEN

IDWISE_EVENTS = {"BEARER_TOKEN": TOKEN, "INBOX": True}
