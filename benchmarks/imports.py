"""Import time: `import idwise_events` against pydantic's own, in fresh processes.

What AWS Lambda users pay on every cold start. Each side is timed inside a new interpreter (its
start-up left out), many times, alternating; the best of each counts.

Both sides load compiled bytecode, as an installed wheel does (pip compiles it on install). The
processes write and read it in a temporary ``PYTHONPYCACHEPREFIX``, each side warmed once first:
otherwise an editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would compile our modules
from source on every start (about 25 ms here) while pydantic's came compiled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

TITLE = "import idwise_events / from pydantic import BaseModel, TypeAdapter"
BAR = 1.5
FIRST_PARSE_TITLE = "import idwise_events + first parse_event / import idwise_events"
ONE_MODEL_TITLE = (
    "pydantic + one deferred model with a Field / from pydantic import BaseModel, TypeAdapter"
)
_TIMED = "import time\nstart = time.perf_counter()\n{code}\nprint(time.perf_counter() - start)"
_OURS = "import idwise_events"
_PYDANTIC = "from pydantic import BaseModel, TypeAdapter"
# The least any library declaring models pays: the first model with a field loads parts of
# pydantic that importing `BaseModel` does not (`pydantic.fields`, `pydantic.types`,
# `annotated_types`). The row for the bar above, as the thread trip is for the HTTP rows.
_ONE_MODEL = (
    "from pydantic import BaseModel, ConfigDict, Field, TypeAdapter\n"
    "class Model(BaseModel):\n"
    "    model_config = ConfigDict(defer_build=True)\n"
    "    name: str = Field(alias='n')"
)
_FIRST_PARSE = (
    "import idwise_events\n"
    'idwise_events.parse_event(b\'{"event": "Finished Journey", "body": {"journeyId":'
    ' "j", "systemDecision": "Complete"}}\')'
)


def import_times(*, rounds: int) -> tuple[float, float, float, float]:
    """Best seconds for our import, pydantic's, ours with a first parse, pydantic's with a model."""
    best = {code: float("inf") for code in (_OURS, _PYDANTIC, _FIRST_PARSE, _ONE_MODEL)}
    with tempfile.TemporaryDirectory(prefix="idwise-bytecode-") as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for code in best:  # the warm-up: writes the bytecode each side then reads
            _timed(code, env)
        for _ in range(rounds):
            for code in best:
                best[code] = min(best[code], _timed(code, env))
    return best[_OURS], best[_PYDANTIC], best[_FIRST_PARSE], best[_ONE_MODEL]


def _timed(code: str, env: dict[str, str]) -> float:
    output = subprocess.run(  # noqa: S603 -- our own interpreter, our own code
        [sys.executable, "-c", _TIMED.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return float(output.split()[-1])


if __name__ == "__main__":
    ours, pydantic, first_parse, one_model = import_times(rounds=10)
    print(f"{TITLE}: {ours * 1e3:.1f} ms / {pydantic * 1e3:.1f} ms = {ours / pydantic:.2f}x")
    print(
        f"{ONE_MODEL_TITLE}: {one_model * 1e3:.1f} ms / {pydantic * 1e3:.1f} ms"
        f" = {one_model / pydantic:.2f}x"
    )
    print(f"{FIRST_PARSE_TITLE}: {first_parse * 1e3:.1f} ms / {ours * 1e3:.1f} ms")
