"""The runnable examples and the code on the docs' Receiving page answer real requests as shown.

Each example is imported the way its server imports it (not as ``__main__``, so no server starts)
and driven through its framework's own test client: a real IDWise event with the credentials from
the environment is processed, and the same request with a guessed token is refused.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import json
import logging
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idwise_events import (
    AmlMonitorUpdate,
    BearerAuth,
    Dispatcher,
    Event,
    FinishedJourney,
    ManuallyReviewed,
    Outcome,
    UpdatedJourney,
    WebhookResponse,
)
from idwise_events.adapters import DEFAULT_PATH
from idwise_events.testing import auth_headers, build_request, make_event

ROOT = Path(__file__).parent.parent
TOKEN = "examples-test-token"  # noqa: S105 -- made up for these tests
VERIFIER = BearerAuth(TOKEN)
RIGHT = {"Content-Type": "application/json", **auth_headers(VERIFIER)}
WRONG = {**RIGHT, "Authorization": "Bearer guessed"}

Request = tuple[str, str, bytes, dict[str, str]]
"""One request to send: method, path, body, headers."""
Reply = tuple[int, bytes]
"""What came back: status and body."""
Exchange = Callable[[str, list[Request]], list[Reply]]
"""Load the example at a path (relative to the repository) and send it the requests in order."""
LOADED: set[str] = set()
"""The module names the examples were imported under, forgotten after each test."""


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The examples build their verifier with verifier_from_env(), as in production."""
    for name in [name for name in os.environ if name.startswith("IDWISE_WEBHOOK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", TOKEN)
    yield
    for name in LOADED:
        sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def logging_untouched() -> Iterator[None]:
    """Frameworks that configure logging (Litestar does) leave the process as they found it."""
    root, level = list(logging.root.handlers), logging.root.level
    yield
    logging.root.handlers[:] = root
    logging.root.setLevel(level)


def load(example: str) -> types.ModuleType:
    """Import the example afresh under its file's name, as ``gunicorn module:app`` would."""
    path = ROOT / example
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # Flask and Quart find the app's root folder through it
    LOADED.add(path.stem)
    spec.loader.exec_module(module)
    return module


def sample_body(journey_id: str = "journey-from-the-test") -> bytes:
    return (
        make_event(FinishedJourney, journey_id=journey_id).model_dump_json(by_alias=True).encode()
    )


# -- one exchange per framework, through its own test client -------------------------------


def flask_exchange(example: str, requests: list[Request]) -> list[Reply]:
    client = load(example).app.test_client()
    replies = []
    for method, path, body, headers in requests:
        response = client.open(path, method=method, data=body, headers=headers)
        replies.append((response.status_code, response.get_data()))
    return replies


DJANGO_CLIENT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import django_receiver  # configures Django and mounts the view, as gunicorn would
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()  # lets the test client's host name in
client = Client(enforce_csrf_checks=True)  # the view must be exempt on its own
replies = []
for method, path, body, headers in json.load(sys.stdin):
    content_type = headers.pop("Content-Type")
    response = client.generic(method, path, body.encode(), content_type, headers=headers)
    replies.append([response.status_code, response.content.decode()])
print(json.dumps(replies))
"""


def django_exchange(example: str, requests: list[Request]) -> list[Reply]:
    """In a child process: Django's settings are global, and the adapter tests configure theirs."""
    sent = [(method, path, body.decode(), headers) for method, path, body, headers in requests]
    folder = str((ROOT / example).parent)
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_CLIENT, folder],
        input=json.dumps(sent),
        capture_output=True,
        text=True,
        check=True,
    )
    *printed, last = result.stdout.splitlines()
    print("\n".join(printed))  # what the handler printed, for capsys
    return [(status, content.encode()) for status, content in json.loads(last)]


def asgi_test_client_exchange(example: str, requests: list[Request]) -> list[Reply]:
    """Starlette's TestClient, for the Starlette and FastAPI apps."""
    from starlette.testclient import TestClient

    with TestClient(load(example).app) as client:
        replies = []
        for method, path, body, headers in requests:
            response = client.request(method, path, content=body, headers=headers)
            replies.append((response.status_code, response.content))
    return replies


def aiohttp_exchange(example: str, requests: list[Request]) -> list[Reply]:
    from aiohttp.test_utils import TestClient, TestServer

    async def exchange() -> list[Reply]:
        async with TestClient(TestServer(load(example).app, host="127.0.0.1")) as client:
            replies = []
            for method, path, body, headers in requests:
                async with client.request(method, path, data=body, headers=headers) as response:
                    replies.append((response.status, await response.read()))
            return replies

    return asyncio.run(exchange())


def lambda_exchange(example: str, requests: list[Request]) -> list[Reply]:
    """A function URL event per request (the shape the API Gateway HTTP API sends too)."""
    handler = load(example).handler
    replies = []
    for method, path, body, headers in requests:
        event = {
            "version": "2.0",
            "rawPath": path,
            "headers": {name.lower(): value for name, value in headers.items()},
            "body": base64.b64encode(body).decode("ascii"),
            "isBase64Encoded": True,
            "requestContext": {"http": {"method": method, "path": path, "sourceIp": "192.0.2.1"}},
        }
        answer = handler(event, None)
        replies.append((answer["statusCode"], base64.b64decode(answer["body"])))
    return replies


def werkzeug_exchange(
    example: str, requests: list[Request], name: str = "application"
) -> list[Reply]:
    """Werkzeug's test client, for the standalone WSGI app."""
    from werkzeug.test import Client

    client = Client(getattr(load(example), name))
    replies = []
    for method, path, body, headers in requests:
        response = client.open(path, method=method, data=body, headers=headers)
        replies.append((response.status_code, response.get_data()))
    return replies


def httpx_exchange(example: str, requests: list[Request]) -> list[Reply]:
    """Through httpx's ASGITransport, for the standalone ASGI app."""
    import httpx

    transport = httpx.ASGITransport(app=load(example).application)

    async def exchange() -> list[Reply]:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            replies = []
            for method, path, body, headers in requests:
                response = await client.request(method, path, content=body, headers=headers)
                replies.append((response.status_code, response.content))
            return replies

    return asyncio.run(exchange())


def falcon_exchange(example: str, requests: list[Request]) -> list[Reply]:
    import falcon.testing

    client = falcon.testing.TestClient(load(example).app)
    replies = []
    for method, path, body, headers in requests:
        result = client.simulate_request(method, path, body=body, headers=headers)
        replies.append((result.status_code, result.content))
    return replies


def litestar_exchange(example: str, requests: list[Request]) -> list[Reply]:
    from litestar.testing import TestClient

    with TestClient(load(example).app) as client:
        replies = []
        for method, path, body, headers in requests:
            response = client.request(method, path, content=body, headers=headers)
            replies.append((response.status_code, response.content))
    return replies


def quart_exchange(example: str, requests: list[Request]) -> list[Reply]:
    """Quart's test client, which goes through ``app.asgi_app`` as a server does."""
    app = load(example).app

    async def exchange() -> list[Reply]:
        client = app.test_client()
        replies = []
        for method, path, body, headers in requests:
            response = await client.open(path, method=method, data=body, headers=headers)
            replies.append((response.status_code, await response.get_data()))
        return replies

    return asyncio.run(exchange())


RECEIVERS: dict[str, Exchange] = {
    "examples/flask_receiver.py": flask_exchange,
    "examples/django_receiver.py": django_exchange,
    "examples/fastapi_receiver.py": asgi_test_client_exchange,
    "examples/starlette_receiver.py": asgi_test_client_exchange,
    "examples/aiohttp_receiver.py": aiohttp_exchange,
    "examples/aws_lambda_receiver.py": lambda_exchange,
    "examples/wsgi_receiver.py": werkzeug_exchange,
    "examples/asgi_receiver.py": httpx_exchange,
}
MOUNTED_IN_OTHER_FRAMEWORKS: dict[str, Exchange] = {
    "docs/examples/mount_falcon.py": falcon_exchange,
    "docs/examples/mount_litestar.py": litestar_exchange,
    "docs/examples/mount_quart.py": quart_exchange,
}


@pytest.mark.parametrize(
    ("example", "exchange"),
    [*RECEIVERS.items(), *MOUNTED_IN_OTHER_FRAMEWORKS.items()],
    ids=lambda value: Path(value).stem if isinstance(value, str) else "",
)
def test_the_example_processes_a_real_event_and_refuses_a_guessed_token(
    example: str, exchange: Exchange, capsys: pytest.CaptureFixture[str]
) -> None:
    """200 and the handler saw the event; then 401 for a guessed token, and no second run."""
    body = sample_body("journey-from-the-test")

    replies = exchange(
        example, [("POST", DEFAULT_PATH, body, RIGHT), ("POST", DEFAULT_PATH, body, WRONG)]
    )

    assert replies == [(200, b'{"outcome": "processed"}'), (401, b'{"outcome": "unauthorized"}')]
    printed = capsys.readouterr().out
    assert printed.count("journey journey-from-the-test finished: Complete") == 1


@pytest.mark.parametrize(
    ("example", "exchange"),
    list(MOUNTED_IN_OTHER_FRAMEWORKS.items()),
    ids=lambda value: Path(value).stem if isinstance(value, str) else "",
)
def test_the_host_framework_still_serves_its_own_routes(example: str, exchange: Exchange) -> None:
    """Mounting the webhook app leaves the rest of the Falcon, Litestar or Quart app as it was."""
    [(status, content)] = exchange(example, [("GET", "/health", b"", {})])

    assert (status, json.loads(content)) == (200, {"ok": True})


def test_the_lambda_example_invokes_itself_once_when_run() -> None:
    """`python examples/aws_lambda_receiver.py` answers a sample event with 200."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples/aws_lambda_receiver.py")],
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.splitlines() == [
        "journey 6720a1f3c9e84b2d5f0e122e finished: Complete",
        '200 {"outcome": "processed"}',
    ]


# -- the Receiving page ----------------------------------------------------------------------


def deliver(
    dispatcher: Dispatcher, body: Event | bytes, verifier: BearerAuth = VERIFIER
) -> WebhookResponse:
    return dispatcher.handle(build_request(body, verifier))


def test_handlers_run_by_type_in_registration_order(capsys: pytest.CaptureFixture[str]) -> None:
    """Typed, multi-type, on_any and on_unknown handlers see exactly the events the page says."""
    dispatcher: Dispatcher = load("docs/examples/handlers.py").dispatcher
    finished = make_event(FinishedJourney, journey_id="j-1")
    reviewed = make_event(ManuallyReviewed, journey_id="j-2")
    updated = make_event(UpdatedJourney, journey_id="j-3", final_decision="Rejected")
    unknown = b'{"event": "Journey Archived", "body": {"eventId": "u-1", "journeyId": "j-4"}}'

    statuses = [deliver(dispatcher, body).status for body in (finished, reviewed, updated, unknown)]

    assert statuses == [200, 200, 200, 200]
    assert capsys.readouterr().out.splitlines() == [
        "journey j-1 finished: Complete",
        f"audit: Finished Journey {finished.event_id}",
        "journey j-2 is now Approved",
        f"audit: Manually Reviewed {reviewed.event_id}",
        "journey j-3 is now Rejected",
        f"audit: Updated Journey {updated.event_id}",
        "audit: Journey Archived u-1",
        "unknown event 'Journey Archived' with fields ['eventId', 'journeyId']",
    ]


def test_a_coroutine_handler_is_awaited_by_handle_async_and_run_by_handle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The async handler runs under both entry points, after the on_any handler registered first."""
    dispatcher: Dispatcher = load("docs/examples/handlers.py").dispatcher
    first = make_event(AmlMonitorUpdate, journey_id="j-5", updated_aml_version_number=3)
    second = make_event(AmlMonitorUpdate, journey_id="j-6", updated_aml_version_number=4)

    awaited = asyncio.run(dispatcher.handle_async(build_request(first, VERIFIER)))
    called = deliver(dispatcher, second)

    assert (awaited.status, called.status) == (200, 200)
    assert capsys.readouterr().out.splitlines() == [
        f"audit: AML Monitor Update {first.event_id}",
        "compliance: journey j-5 is at AML version 3",
        f"audit: AML Monitor Update {second.event_id}",
        "compliance: journey j-6 is at AML version 4",
    ]


def test_the_status_override_changes_only_that_outcome() -> None:
    """A guessed token gets 403; every other outcome keeps its default status."""
    dispatcher: Dispatcher = load("docs/examples/statuses.py").dispatcher

    refused = deliver(dispatcher, sample_body(), BearerAuth("guessed"))

    assert refused.status == 403
    assert dispatcher.statuses[Outcome.INVALID] == 400
    assert deliver(dispatcher, sample_body()).status == 200


def test_the_invalid_hook_keeps_the_body_and_the_mismatch_hook_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid delivery is answered 400 and kept as sent; a reused event id is logged."""
    monkeypatch.chdir(tmp_path)
    dispatcher: Dispatcher = load("docs/examples/hooks.py").dispatcher
    invalid = b'{"event": "Finished Journey", "body": {"eventId": "e-1"}}'
    event = make_event(FinishedJourney)
    altered = make_event(FinishedJourney, event_id=event.event_id, system_decision="Refer")

    statuses = [deliver(dispatcher, body).status for body in (invalid, event, altered)]

    assert statuses == [400, 200, 200]
    [kept] = (tmp_path / "invalid-deliveries").iterdir()
    assert kept.read_bytes() == invalid
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("kept an invalid IDWise delivery: ") for message in messages)
    assert f"IDWise event {event.event_id} came again with another body" in messages


def test_the_json_log_has_one_line_per_delivery_with_its_fields_and_no_secret() -> None:
    """Each delivery logs one JSON line with the documented fields; the token is never in it."""
    module = load("docs/examples/logging_json.py")
    handler: logging.StreamHandler[Any] = module.handler
    logger = logging.getLogger("idwise_events")
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        dispatcher = Dispatcher(verifier=VERIFIER)
        event = make_event(FinishedJourney)
        deliver(dispatcher, event)
        deliver(dispatcher, event, BearerAuth("guessed"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    processed, refused = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {key: processed[key] for key in ("level", "event_type", "event_id", "outcome")} == {
        "level": "INFO",
        "event_type": "Finished Journey",
        "event_id": event.event_id,
        "outcome": "processed",
    }
    assert (processed["status"], processed["client_ip"]) == (200, "127.0.0.1")
    assert processed["duration_ms"] >= 0
    assert (refused["level"], refused["outcome"], refused["status"]) == (
        "WARNING",
        "unauthorized",
        401,
    )
    assert TOKEN not in stream.getvalue()
    assert "guessed" not in stream.getvalue()
