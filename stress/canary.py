"""Secrets: a canary secret in every verifier never shows in logs, reprs, answers, errors, CLI.

    python -m stress.canary --deliveries 5000

The canary is the credential of every verifier: `BearerAuth`, `BasicAuth`, `HeaderAuth` and their
`AllOf` combinations, in process and in real servers (uvicorn with ``AllOf(BearerAuth,
HeaderAuth)``, gunicorn with ``BasicAuth & HeaderAuth``, both logging the package at DEBUG).
The run sends valid deliveries, wrong credentials that contain the canary (so an echoed header
would show it), invalid bodies, and a handler failure; it runs ``idwise-events listen`` and
``idwise-events send`` with the canary as their credential, rightly and wrongly. Then it
searches for the canary in every answer (status line, headers, body), the servers' logs, the
CLI's output, and, in process, the reprs and strings of the verifiers and the dispatcher and
every exception `verify` raised (with its causes and formatted traceback), with every log
record captured. Django's debug error page is checked by tests/evidence/test_canary.py.
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx

from idwise_events import (
    AllOf,
    BasicAuth,
    BearerAuth,
    Dispatcher,
    FinishedJourney,
    HeaderAuth,
    MemoryStore,
    VerificationError,
    Verifier,
    WebhookRequest,
)
from idwise_events.testing import make_event

from .servers import Server, serving

CANARY = "CANARY-s3cr3t-9f2b"  # the same canary as tests/conftest.py's log guard
CLI = [sys.executable, "-m", "idwise_events.cli"]
CLI_TIMEOUT = 30.0


def in_process_verifiers() -> list[Verifier]:
    """Every verifier, and the combinations of them, each holding the canary."""
    bearer, basic = BearerAuth([CANARY, "other-token"]), BasicAuth("idwise", CANARY)
    header = HeaderAuth({"X-Api-Key": CANARY, "X-Tenant": CANARY})
    return [bearer, basic, header, AllOf(bearer, header), basic & header, AllOf(basic, bearer)]


def wrong_headers(rng: random.Random) -> dict[str, str]:
    """Credentials that are wrong but contain the canary, as an attacker's near miss would."""
    near = rng.choice([CANARY + "x", "x" + CANARY, CANARY[:-1], CANARY.lower(), CANARY * 2])
    basic = base64.b64encode(f"idwise:{near}".encode()).decode()
    return rng.choice(
        [
            {"Authorization": f"Bearer {near}", "X-Api-Key": near},
            {"Authorization": f"Basic {basic}", "X-Api-Key": CANARY},
            {"Authorization": f"Bearer {CANARY}", "X-Api-Key": near},
            {"Authorization": f"Bearer {CANARY}"},
            {"X-Api-Key": CANARY},
            {"Authorization": f"Basic {CANARY}"},  # not base64
        ]
    )


def right_headers(kind: str) -> dict[str, str]:
    """The credentials the server of ``kind`` accepts."""
    if kind == "uvicorn":
        return {"Authorization": f"Bearer {CANARY}", "X-Api-Key": CANARY}
    basic = base64.b64encode(f"idwise:{CANARY}".encode()).decode()
    return {"Authorization": f"Basic {basic}", "X-Api-Key": CANARY}


def through_server(server: Server, deliveries: int, seed: int) -> Iterator[tuple[str, str]]:
    """(where, text) for every answer the server gave, then its log."""
    rng = random.Random(seed)  # noqa: S311 -- seeded so a run can be replayed; nothing secret
    with httpx.Client(timeout=30) as client:
        for number in range(deliveries):
            key = "fail-me" if number == 0 else f"canary-{server.kind}-{seed}-{number}"
            body = make_event(FinishedJourney, event_id=key).model_dump_json(by_alias=True)
            choice = rng.randrange(4)
            headers = right_headers(server.kind) if choice < 2 else wrong_headers(rng)
            if choice == 1:
                body = body[: rng.randrange(len(body))]
            response = client.post(
                server.url, content=body, headers={"Content-Type": "application/json", **headers}
            )
            answer = f"{response.status_code} {response.headers!r} {response.text}"
            yield f"{server.kind} answer", answer
    log = server.log_path.read_text(errors="replace")
    if "unauthorized" not in log:  # else searching it would prove nothing
        raise RuntimeError(f"{server.kind} logged no refused delivery:\n{log[-2000:]}")
    yield f"{server.kind} log", log


def in_process(deliveries: int, seed: int) -> Iterator[tuple[str, str]]:
    """Reprs, strings, every exception and every log record of verifiers and a dispatcher."""
    rng = random.Random(seed)  # noqa: S311 -- seeded so a run can be replayed; nothing secret
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    package = logging.getLogger("idwise_events")
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    try:
        for verifier in in_process_verifiers():
            dispatcher = Dispatcher(verifier=verifier, store=MemoryStore())
            dispatcher.on(FinishedJourney)(_fail_on_key)
            yield "repr/str", f"{verifier!r} {verifier} {dispatcher!r} {dispatcher}"
            for number in range(deliveries):
                headers = wrong_headers(rng)
                body = make_event(FinishedJourney, event_id=f"fail-{number}")
                request = WebhookRequest(body.model_dump_json(by_alias=True).encode(), headers)
                try:
                    verifier.verify(request)
                except VerificationError as error:  # (a part this verifier lacks may be right)
                    yield "exception", _everything_about(error)
                response = dispatcher.handle(request)
                yield "answer", f"{response!r} {response.body!r}"
    finally:
        package.removeHandler(handler)
        package.setLevel(logging.NOTSET)
    yield "log records", records.getvalue()


def _fail_on_key(event: FinishedJourney) -> None:
    raise RuntimeError("a handler failed")


def _everything_about(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error))]
    cause: BaseException | None = error
    while cause is not None:
        parts += [repr(cause), str(cause), repr(cause.args)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def through_cli(folder: Path) -> Iterator[tuple[str, str]]:
    """``idwise-events listen`` with the canary; ``send`` to it rightly and wrongly."""
    log = folder / "listen.log"
    with log.open("wb") as out:
        listen = subprocess.Popen(  # noqa: S603 -- our own fixed arguments
            [*CLI, "listen", "--port", "0", "--bearer", CANARY, "--db", str(folder / "cli.db")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        url = _listening_url(log, listen)
        for token in (CANARY, CANARY + "x", CANARY[:-1]):
            for arguments in (["--bearer", token], ["--basic", f"idwise:{token}"]):
                sent = subprocess.run(  # noqa: S603 -- our own fixed arguments
                    [*CLI, "send", "Finished Journey", "--url", url, *arguments],
                    capture_output=True,
                    text=True,
                    timeout=CLI_TIMEOUT,
                    check=False,
                )
                yield "cli send", sent.stdout + sent.stderr
    finally:
        listen.terminate()
        listen.wait(timeout=CLI_TIMEOUT)
    yield "cli listen", log.read_text(errors="replace")


def _listening_url(log: Path, listen: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + CLI_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(r"on (http://\S+)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if listen.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"idwise-events listen did not start:\n{log.read_text()}")


def leaks(deliveries: int, *, seed: int, folder: Path) -> tuple[int, list[str]]:
    """How many texts were searched, and where the canary was found (nowhere, if all is well)."""
    searched, found = 0, []
    sources = [in_process(deliveries, seed), through_cli(folder)]
    for kind, auth in (("uvicorn", "bearer+header"), ("gunicorn", "basic+header")):
        env = {"STRESS_AUTH": auth, "STRESS_LOG_LEVEL": "DEBUG", "STRESS_FAIL_TEXT": "failed"}
        store_url = f"sqlite:///{folder / f'{kind}.db'}"
        with serving(
            kind, store_url=store_url, folder=folder, workers=2, secret=CANARY, env=env
        ) as server:
            for where, text in through_server(server, deliveries, seed):
                searched += 1
                if CANARY in text or CANARY.lower() in text:
                    found.append(f"{where}: ...{_around(text)}...")
    for source in sources:
        for where, text in source:
            searched += 1
            if CANARY in text or CANARY.lower() in text:
                found.append(f"{where}: ...{_around(text)}...")
    return searched, found


def _around(text: str) -> str:
    at = max(0, text.lower().find(CANARY.lower()))
    return text[max(0, at - 150) : at + 60]


def main(argv: list[str] | None = None) -> int:
    """Run the script; 0 when the canary was found nowhere."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=5000, help="per server, and in process")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idwise-stress-canary-") as name:
        searched, found = leaks(args.deliveries, seed=args.seed, folder=Path(name))
    print(f"searched {searched} texts (answers, logs, reprs, exceptions, CLI output)")
    for leak in found[:20]:
        print(f"  LEAK {leak}")
    print(f"the canary appeared {len(found)} times" if found else "the canary appeared nowhere")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
