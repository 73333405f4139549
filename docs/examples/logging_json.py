"""Logging: one JSON line per delivery, with the dispatcher's structured fields."""

from __future__ import annotations

# --8<-- [start:json]
import json
import logging
import sys

FIELDS = ("event_type", "event_id", "outcome", "status", "duration_ms", "client_ip")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: the message, and the delivery's fields when it has them."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line = {"level": record.levelname, "message": record.getMessage()}
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:  # a handler's exception, with its traceback
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line)


handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(JsonFormatter())
logger = logging.getLogger("idwise_events")
logger.addHandler(handler)
logger.setLevel(logging.INFO)  # INFO: every delivery; WARNING: refusals and failures only
# --8<-- [end:json]
