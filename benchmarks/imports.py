"""Import time: `import idwise_events` against pydantic's own, in fresh processes.

What AWS Lambda users pay on every cold start. Each side is timed inside a new interpreter (its
start-up left out), many times, alternating; the best of each counts.
"""

from __future__ import annotations

import subprocess
import sys

TITLE = "import idwise_events / from pydantic import BaseModel, TypeAdapter"
BAR = 1.5
FIRST_PARSE_TITLE = "import idwise_events + first parse_event / the same, before (178 ms)"
_TIMED = "import time\nstart = time.perf_counter()\n{code}\nprint(time.perf_counter() - start)"
_FIRST_PARSE = (
    "import idwise_events\n"
    'idwise_events.parse_event(b\'{"event": "Finished Journey", "body": {"journeyId":'
    ' "j", "systemDecision": "Complete"}}\')'
)


def import_times(*, rounds: int) -> tuple[float, float, float]:
    """Best seconds for: our import, pydantic's, and our import with the first parse_event."""
    ours = pydantic = first_parse = float("inf")
    for _ in range(rounds):
        ours = min(ours, _timed("import idwise_events"))
        pydantic = min(pydantic, _timed("from pydantic import BaseModel, TypeAdapter"))
        first_parse = min(first_parse, _timed(_FIRST_PARSE))
    return ours, pydantic, first_parse


def _timed(code: str) -> float:
    output = subprocess.run(  # noqa: S603 -- our own interpreter, our own code
        [sys.executable, "-c", _TIMED.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.split()[-1])
