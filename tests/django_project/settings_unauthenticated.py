"""The test project with DEBUG on and no authentication: W001, the NoAuth case (a subprocess's)."""

from __future__ import annotations

import os

from .settings import *  # noqa: F403 -- the test project's settings, two of them changed

DEBUG = True
IDWISE_EVENTS = {}  # nothing configured
SILENCED_SYSTEM_CHECKS = os.environ.get("SILENCED_SYSTEM_CHECKS", "").split(",")
