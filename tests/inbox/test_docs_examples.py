"""The code on the docs' "Acknowledge fast" page runs as shown, on a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import runpy
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from starlette.applications import Starlette
from starlette.testclient import TestClient as TestClientStarlette

from idwise_events import Dispatcher, FinishedJourney
from idwise_events._inbox import DeliveryState
from idwise_events._memory_inbox import MemoryInbox
from idwise_events.adapters import DEFAULT_PATH
from idwise_events.adapters.aiohttp import route
from idwise_events.adapters.starlette import route as starlette_route
from idwise_events.inbox.sql import SqlInbox
from idwise_events.inbox.worker import EmbeddedWorker
from idwise_events.testing import FakeClock, build_request, make_event

from .conftest import accept_event

EXAMPLES = Path(__file__).parent.parent.parent / "docs" / "examples"
WAIT = 60.0  # seconds, a bounded wait; no test measures time
AUTH = {"Authorization": "Bearer docs-example-token", "Content-Type": "application/json"}


def test_the_embedded_worker_example_runs_in_an_aiohttp_apps_cleanup_ctx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real aiohttp server on loopback, with the worker in its ``cleanup_ctx``.

    The worker starts with the app and processes the delivery the route accepted; the app's
    cleanup stops it.
    """
    monkeypatch.chdir(tmp_path)  # the example's sqlite:///idwise-events.db
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "docs-example-token")
    example = runpy.run_path(str(EXAMPLES / "inbox_embedded.py"))
    inbox: SqlInbox = example["inbox"]
    worker: EmbeddedWorker = example["worker"]
    dispatcher: Dispatcher = example["dispatcher"]
    app = web.Application()
    app.add_routes([route(dispatcher)])
    app.cleanup_ctx.append(example["embedded_worker"])

    async def serve() -> int:
        async with TestServer(app, host="127.0.0.1") as server, TestClient(server) as client:
            request = build_request(
                make_event(FinishedJourney, reference_no="cust-42"), dispatcher.verifier
            )
            answer = await client.post(DEFAULT_PATH, data=request.body, headers=AUTH)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and inbox.stats()[DeliveryState.DONE] == 0:
                await asyncio.sleep(0.02)
            status: int = answer.status
            return status

    try:
        assert asyncio.run(serve()) == 200
    finally:
        inbox.close()
    assert inbox.stats()[DeliveryState.DONE] == 1
    assert worker.stop(timeout=0)  # the app's cleanup stopped it already
    assert "decision for cust-42 Complete" in capsys.readouterr().out


def test_the_embedded_worker_example_runs_in_a_starlette_lifespan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same with Starlette's lifespan, which its TestClient runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "docs-example-token")
    example = runpy.run_path(str(EXAMPLES / "inbox_embedded.py"))
    inbox: SqlInbox = example["inbox"]
    dispatcher: Dispatcher = example["dispatcher"]
    app = Starlette(routes=[starlette_route(dispatcher)], lifespan=example["lifespan"])
    request = build_request(
        make_event(FinishedJourney, reference_no="cust-43"), dispatcher.verifier
    )

    try:
        with TestClientStarlette(app) as client:
            answer = client.post(DEFAULT_PATH, content=request.body, headers=AUTH)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and inbox.stats()[DeliveryState.DONE] == 0:
                time.sleep(0.02)
    finally:
        inbox.close()
    assert answer.status_code == 200
    assert inbox.stats()[DeliveryState.DONE] == 1
    assert "decision for cust-43 Complete" in capsys.readouterr().out


def test_the_operations_example_replays_dead_letters_and_purges(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    inbox = MemoryInbox(clock=clock)
    done, dead = accept_event(inbox).id, accept_event(inbox).id
    for delivery_id, error in ((done, None), (dead, "KeyError: 'journey'")):
        held = inbox.take(delivery_id, lease=timedelta(minutes=5))
        assert held is not None
        if error is None:
            inbox.complete(delivery_id, held.token)
        else:
            inbox.bury(delivery_id, held.token, error=error)
    example = runpy.run_path(str(EXAMPLES / "inbox_operations.py"))

    example["nightly"](inbox)
    assert "1 dead letters to look at" in capsys.readouterr().out
    assert example["replay_dead_letters"](inbox) == 1
    assert "KeyError: 'journey'" in capsys.readouterr().out
    clock.advance(days=31)
    example["nightly"](inbox)
    assert inbox.get(done) is None
    assert inbox.stats()[DeliveryState.PENDING] == 1


def test_the_celery_example_registers_its_tasks_beside_a_web_apps_app(tmp_path: Path) -> None:
    """Its Celery app is ``celery_app``, so a web app named ``app`` fits in the same module.

    Run eagerly (in its process, as Celery's ``task_always_eager`` does), an accepted delivery
    goes through the example's own tasks to its handler. In a process of its own: Celery shares
    its tasks between the apps of a process, and the other tests install theirs.
    """
    script = f"""
import runpy
from idwise_events import DeliveryState, FinishedJourney
from idwise_events.testing import build_request, make_event

example = runpy.run_path({str(EXAMPLES / "inbox_celery.py")!r})
celery_app, dispatcher = example["celery_app"], example["dispatcher"]
celery_app.conf.task_always_eager = True
assert "app" not in example
assert {{"idwise_events.process", "idwise_events.sweep"}} <= set(celery_app.tasks)
request = build_request(make_event(FinishedJourney), dispatcher.verifier)
print(dispatcher.handle(request).status, example["inbox"].stats()[DeliveryState.DONE])
"""
    environ = {
        **os.environ,
        "IDWISE_WEBHOOK_BEARER_TOKEN": "docs-example-token",
        "CELERY_BROKER_URL": "memory://",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'inbox.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environ, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "1"]


def test_the_procrastinate_example_bounds_the_defer_in_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its connector's connections get libpq's limits, and both tasks are registered."""
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "docs-example-token")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@127.0.0.1:1/never-connected")
    example = runpy.run_path(str(EXAMPLES / "inbox_procrastinate.py"))
    app = example["app"]

    assert {"idwise_events.process", "idwise_events.sweep"} <= set(app.tasks)
    limits = app.connector._pool_args["kwargs"]  # what each pooled connection is opened with
    assert limits["connect_timeout"] == 5
    assert limits["tcp_user_timeout"] == 10000
    example["inbox"].close()
