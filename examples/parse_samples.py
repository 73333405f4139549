"""Parse one sample payload of every IDWise webhook type and print what the models make of it.

    python examples/parse_samples.py

The samples are IDWise's documented examples (``idwise_events.testing.SAMPLE_BODIES``), sent
through ``parse_event`` as the raw bytes a web framework would hand over.
"""

from __future__ import annotations

import json

from idwise_events import parse_event
from idwise_events.testing import SAMPLE_BODIES


def main() -> None:
    for model, body in SAMPLE_BODIES.items():
        raw = json.dumps({"event": model.event_type.value, "body": body}).encode()
        event = parse_event(raw)
        fields = event.model_dump(mode="json", exclude_none=True)["body"]
        summary = ", ".join(f"{name}={value!s}" for name, value in fields.items())
        print(f"{type(event).__name__:28} key={event.idempotency_key[:19]}…  {summary}")
    unknown = parse_event(b'{"event": "Journey Archived", "body": {"eventId": "e-1"}}')
    print(f"{type(unknown).__name__:28} event={unknown.event!r} body={unknown.body}")


if __name__ == "__main__":
    main()
