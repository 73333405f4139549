"""The docs' Django projects with an engine: ``install`` in ``webhooks.py``, as the docs say.

Each test builds a Django project in a temporary folder around the docs' ``webhooks.py``, creates
its tables with ``manage.py migrate``, and has a web process (Django's test client, in a process
of its own) accept a delivery. The delivery's job must be queued by that web process, which
proves the web side ran ``install``; then the engine's worker, started the way the docs say,
must run the handler.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis as redis_client

from idwise_events import FinishedJourney
from idwise_events.testing import make_event

from .app import libpq_url
from .conftest import ROOT, RedisServer, Workers, wait_until

EXAMPLES = ROOT / "docs" / "examples"
BEARER = "django-engines-bearer"

SETTINGS = """
import json, os

SECRET_KEY = "not-a-secret"
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", *{engine_apps},
                  "idwise_events.contrib.django", "kyc"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", **{database}}}}}
ROOT_URLCONF = "proj.urls"
USE_TZ = True
IDWISE_EVENTS = {{"AUTH": "env", "INBOX": True}}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
"""

URLS = """
from django.urls import include, path

urlpatterns = [path("webhooks/", include("idwise_events.contrib.django.urls"))]
"""

MANAGE = """
import os, sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

WEB_SIDE = """
import os, sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
django.setup()
from django.test import Client

headers = {"Authorization": "Bearer " + os.environ["IDWISE_WEBHOOK_BEARER_TOKEN"]}
answer = Client().post(
    "/webhooks/idwise", data=sys.argv[1], content_type="application/json", headers=headers
)
print(answer.status_code, answer.content.decode())
"""


def django_project(directory: Path, database_url: str, *, engine: str) -> Path:
    """A Django project in ``directory`` whose ``kyc/webhooks.py`` is the docs' for ``engine``."""
    url = urlsplit(libpq_url(database_url))
    database = {
        "NAME": url.path.lstrip("/"),
        "USER": url.username or "",
        "PASSWORD": url.password or "",
        "HOST": url.hostname or "",
        "PORT": str(url.port or ""),
    }
    project = directory / "project"
    if engine == "celery":  # the docs' proj/: Celery's Django layout
        shutil.copytree(EXAMPLES / "proj", project / "proj")
        engine_apps: list[str] = []
    else:
        (project / "proj").mkdir(parents=True)
        (project / "proj" / "__init__.py").write_text("")
        engine_apps = ["procrastinate.contrib.django"]
    settings = SETTINGS.format(engine_apps=engine_apps, database=repr(database))
    (project / "proj" / "settings.py").write_text(settings)
    (project / "proj" / "urls.py").write_text(URLS)
    (project / "manage.py").write_text(MANAGE)
    (project / "kyc").mkdir()
    (project / "kyc" / "__init__.py").write_text("")
    shutil.copy(EXAMPLES / f"django_{engine}.py", project / "kyc" / "webhooks.py")
    return project


def run(project: Path, arguments: list[str], environment: dict[str, str]) -> str:
    """Run ``python *arguments`` in the project; its output (the test fails if it fails)."""
    inherited = {**_without_django_settings(), **environment}
    done = subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        env=inherited,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{arguments}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _without_django_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}


def accept(project: Path, environment: dict[str, str]) -> None:
    """The web process accepts one Finished Journey delivery."""
    event = make_event(FinishedJourney, event_id="evt-django-engine")
    body = event.model_dump_json(by_alias=True)
    answer = run(project, ["-c", WEB_SIDE, body], environment).split(maxsplit=1)
    assert answer[0] == "200"
    assert json.loads(answer[1])["outcome"] == "accepted"


def delivery_state(database_url: str) -> str | None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        row = conn.execute("SELECT state FROM idwise_events_inboxdelivery").fetchone()
    return None if row is None else str(row[0])


def queued_procrastinate_jobs(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        rows = conn.execute("SELECT task_name, status FROM procrastinate_jobs").fetchall()
    return [(str(name), str(status)) for name, status in rows]


def test_the_django_procrastinate_example_processes_a_delivery(
    database: str, workers: Workers, tmp_path: Path
) -> None:
    """In webhooks.py: the web side defers the job, `manage.py procrastinate worker` runs it."""
    project = django_project(tmp_path, database, engine="procrastinate")
    environment = {"IDWISE_WEBHOOK_BEARER_TOKEN": BEARER}
    run(project, ["manage.py", "migrate", "-v", "0"], environment)  # procrastinate's tables too
    accept(project, environment)
    assert queued_procrastinate_jobs(database) == [("idwise_events.process", "todo")]
    assert delivery_state(database) == "pending"

    arguments = ["manage.py", "procrastinate", "worker", "--queues", "idwise_events"]
    workers.spawn(arguments, environment=environment, cwd=project)
    wait_until(lambda: delivery_state(database) == "done", what="the delivery to be done")


def test_the_django_celery_example_processes_a_delivery(
    database: str, redis: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """In webhooks.py: the web side sends the task, `celery -A proj worker` runs it; beat sweeps."""
    project = django_project(tmp_path, database, engine="celery")
    environment = {"IDWISE_WEBHOOK_BEARER_TOKEN": BEARER, "CELERY_BROKER_URL": redis.url}
    run(project, ["manage.py", "migrate", "-v", "0"], environment)
    accept(project, environment)
    with redis_client.Redis.from_url(redis.url) as client:
        assert client.llen("celery") == 1  # the task the web process sent
    assert delivery_state(database) == "pending"

    arguments = [
        "-m", "celery", "-A", "proj", "worker", "--concurrency", "1",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    workers.spawn(arguments, environment=environment, cwd=project)
    wait_until(lambda: delivery_state(database) == "done", what="the delivery to be done")

    # The beat the docs run beside the workers has the sweep in its schedule.
    schedule = str(tmp_path / "beat-schedule")
    beat = ["-m", "celery", "-A", "proj", "beat", "-s", schedule, "--loglevel", "DEBUG"]
    workers.spawn(beat, environment=environment, cwd=project)
    wait_until(lambda: "<ScheduleEntry: idwise_events.sweep" in workers.logs(), what="the sweep")
