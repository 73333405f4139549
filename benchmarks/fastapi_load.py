"""HTTP benchmark: the FastAPI router under uvicorn against a bare FastAPI endpoint, loaded by wrk.

Measured exactly as the Starlette row (`http_load`): one uvicorn process serving `fastapi_app`,
wrk loading each route in turn over loopback, in a different order each round, a new eventId for
every request, the best round of each route counting.

    python benchmarks/fastapi_load.py   # ROUNDS=3 by default
"""

from __future__ import annotations

import os

from http_load import ADAPTER_PATH, BARE_PATH, BY_HAND_PATH, HttpResult, measure_routes

TITLE = "FastAPI router under uvicorn / bare FastAPI endpoint (wrk, per request)"
BAR = 1 / 0.9  # time per request: at most 1.11x, that is at least 0.9x the requests per second
BY_HAND_TITLE = "FastAPI router under uvicorn / same steps by hand (wrk)"


def fastapi_comparison(*, rounds: int, quick: bool) -> HttpResult | str:
    """Measure the three routes of `fastapi_app`, or say why not (as `http_comparison` does)."""
    paths = [ADAPTER_PATH, BY_HAND_PATH, BARE_PATH]
    counted = (ADAPTER_PATH, BY_HAND_PATH)
    best = measure_routes("fastapi_app:app", paths, counted, rounds=rounds, quick=quick)
    if isinstance(best, str):
        return best
    return HttpResult(best[ADAPTER_PATH], best[BY_HAND_PATH], best[BARE_PATH])


if __name__ == "__main__":
    result = fastapi_comparison(rounds=int(os.environ.get("ROUNDS", "3")), quick=False)
    if isinstance(result, str):
        print(TITLE, result)
    else:
        print(f"{TITLE}: {result.adapter_rps / result.bare_rps:.2f}x the requests per second")
        print(
            f"  router {result.adapter_rps:.0f} req/s, bare {result.bare_rps:.0f} req/s,"
            f" by hand {result.by_hand_rps:.0f} req/s"
        )
