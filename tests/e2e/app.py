"""The app the end-to-end tests serve: a dispatcher configured from environment variables.

Servers import it as ``tests.e2e.app:asgi`` (uvicorn) or ``tests.e2e.app:wsgi`` (gunicorn), in
each of their worker processes. What the tests need to see or steer across those processes goes
through files:

- ``IDWISE_E2E_STORE_URL`` / ``IDWISE_E2E_TABLE``: the `SqlStore` all the workers share;
- ``IDWISE_E2E_TOKEN``: the bearer token deliveries must carry;
- ``IDWISE_E2E_MAX_BODY_BYTES``: the dispatcher's body limit;
- ``IDWISE_E2E_RUNS_FILE``: the handler appends one line per run (the event's idempotency key);
- ``IDWISE_E2E_HANDLER_DELAY``: seconds the handler sleeps, so that concurrent deliveries overlap;
- ``IDWISE_E2E_FAIL_MARKER``: while this file exists, the next run deletes it and raises (one
  process wins the deletion, so exactly one run fails).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from idwise_events import BearerAuth, Dispatcher, Event
from idwise_events.adapters import asgi as asgi_adapter
from idwise_events.adapters import wsgi as wsgi_adapter
from idwise_events.stores.sql import SqlStore

RUNS_FILE = Path(os.environ["IDWISE_E2E_RUNS_FILE"])
FAIL_MARKER = Path(os.environ["IDWISE_E2E_FAIL_MARKER"])
HANDLER_DELAY = float(os.environ.get("IDWISE_E2E_HANDLER_DELAY", "0"))

dispatcher = Dispatcher(
    verifier=BearerAuth(os.environ["IDWISE_E2E_TOKEN"]),
    store=SqlStore(os.environ["IDWISE_E2E_STORE_URL"], table_name=os.environ["IDWISE_E2E_TABLE"]),
    max_body_bytes=int(os.environ["IDWISE_E2E_MAX_BODY_BYTES"]),
)


@dispatcher.on_any
def record_run(event: Event) -> None:
    """Note the run (before anything else, so a concurrent second run would show), then work."""
    with RUNS_FILE.open("a") as runs:  # one short O_APPEND write: lines never interleave
        runs.write(f"{event.idempotency_key}\n")
    time.sleep(HANDLER_DELAY)
    try:
        FAIL_MARKER.unlink()
    except FileNotFoundError:
        return
    raise RuntimeError("failing once, as the test asked")


asgi = asgi_adapter.app(dispatcher)
wsgi = wsgi_adapter.app(dispatcher)
