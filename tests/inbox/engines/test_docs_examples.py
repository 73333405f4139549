"""The docs' Celery and procrastinate examples, run as the docs say: real workers import them."""

from __future__ import annotations

import runpy

import pytest

from idwise_events import DeliveryState

from .app import accept, libpq_url
from .conftest import ROOT, RedisServer, Workers, wait_until

EXAMPLES = ROOT / "docs" / "examples"
BEARER = "docs-example-bearer"


def test_the_celery_example_processes_a_delivery(
    database: str, redis: RedisServer, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`celery -A inbox_celery worker --beat` processes a delivery the example's side accepted."""
    environment = {
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": redis.url,
        "IDWISE_WEBHOOK_BEARER_TOKEN": BEARER,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    example = runpy.run_path(str(EXAMPLES / "inbox_celery.py"))
    delivery_id, _ = accept(example["dispatcher"], "ok", 1)  # enqueued by the example's hook
    beat_schedule = str(workers.directory / "beat")
    arguments = ["-m", "celery", "-A", "inbox_celery", "worker", "--beat", "-s", beat_schedule]
    workers.spawn(arguments, environment=environment, cwd=EXAMPLES)
    inbox = example["inbox"]
    try:
        wait_until(lambda: inbox.get(delivery_id).state is DeliveryState.DONE, what="done")
    finally:
        inbox.close()


def test_the_procrastinate_example_processes_a_delivery(
    database: str, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented schema step, then a worker, process a delivery the web side deferred."""
    environment = {"DATABASE_URL": libpq_url(database), "IDWISE_WEBHOOK_BEARER_TOKEN": BEARER}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    app_path = ["-m", "procrastinate", "--app", "inbox_procrastinate.app"]
    schema = workers.spawn([*app_path, "schema", "--apply"], environment=environment, cwd=EXAMPLES)
    assert schema.wait(timeout=60) == 0
    example = runpy.run_path(str(EXAMPLES / "inbox_procrastinate.py"))
    example["on_startup"]()
    try:
        delivery_id, _ = accept(example["dispatcher"], "ok", 1)  # deferred by the example's hook
        arguments = [*app_path, "worker", "--queues", "idwise_events"]
        workers.spawn(arguments, environment=environment, cwd=EXAMPLES)
        inbox = example["inbox"]
        wait_until(lambda: inbox.get(delivery_id).state is DeliveryState.DONE, what="done")
    finally:
        example["on_shutdown"]()
        example["inbox"].close()
