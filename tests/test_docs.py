"""The code shown in the docs and the README runs and does what the docs say."""

from __future__ import annotations

import os
import runpy
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent


def test_the_code_shown_inline_in_the_docs_is_the_tested_code() -> None:
    """Every block announced by ``<!-- code: PATH[:SECTION] -->`` equals its tested source.

    The pages show code inline (they read the same on GitHub), taken from files the suite runs;
    ``python docs/inline_code.py`` copies them again after a change.
    """
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs/inline_code.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
    announced = [
        line
        for page in (ROOT / "docs").glob("**/*.md")
        for line in page.read_text().splitlines()
        if "<!-- code: " in line
    ]
    assert len(announced) > 40
    for page in (ROOT / "docs").glob("**/*.md"):
        assert '--8<-- "' not in page.read_text(), f"{page.name} still includes a file"


def test_parsing_example_prints_what_the_docs_show(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/parsing.md quotes the parsing example's output; it must be the real output."""
    runpy.run_path(str(ROOT / "docs/examples/quickstart.py"), run_name="__main__")
    printed = capsys.readouterr().out

    page = (ROOT / "docs/parsing.md").read_text()
    shown = page.split("Running it prints:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert printed == shown


def test_the_docs_home_shows_the_flask_and_fastapi_endpoints_and_the_pipeline() -> None:
    """The five-minute path includes the tested example apps and draws the pipeline."""
    index = (ROOT / "docs/index.md").read_text()

    assert "<!-- code: examples/flask_receiver.py -->" in index
    assert "<!-- code: examples/fastapi_receiver.py -->" in index
    assert "```mermaid\nflowchart" in index
    assert "/webhooks/idwise" in index


def test_readme_quickstart_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's Flask endpoint processes a real event once and answers as the README says."""
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "readme-token")
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "readme_quickstart"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 -- our own README
    client = namespace["app"].test_client()
    right = {"Authorization": "Bearer readme-token", "Content-Type": "application/json"}
    body = (ROOT / "tests/payloads/finished_journey.json").read_bytes()

    def post(content: bytes, headers: dict[str, str]) -> tuple[int, str]:
        response = client.post("/webhooks/idwise", data=content, headers=headers)
        return response.status_code, response.get_json()["outcome"]

    assert post(body, right) == (200, "processed")
    assert post(body, right) == (200, "duplicate")  # IDWise's retry
    assert post(body, {**right, "Authorization": "Bearer guessed"}) == (401, "unauthorized")
    assert post(b'{"event": "Finished Journey", "body": {}}', right) == (400, "invalid")
    assert post(b'{"event": "Journey Archived", "body": {}}', right) == (200, "processed")
    printed = capsys.readouterr().out
    assert printed.count("journey 6720a1f3c9e84b2d5f0e122e finished: Complete") == 1


def test_readme_and_docs_promise_nothing_unbuilt() -> None:
    """The README and the docs describe what is built, with no "coming next" promises."""
    readme = (ROOT / "README.md").read_text()
    docs = "".join(page.read_text() for page in (ROOT / "docs").glob("**/*.md"))

    for text in (readme, docs):
        assert "Coming next" not in text
        assert " is next" not in text


@pytest.mark.parametrize("database", [None, "events.db"])
def test_idempotency_example_processes_a_retried_event_once(
    database: str | None, tmp_path: Path
) -> None:
    """docs/examples/idempotency_flow.py runs its handler once for three deliveries."""
    args = [str(tmp_path / database)] if database else []
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs/examples/idempotency_flow.py"), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "processing Finished User Steps 7a2e4f90",
        "[200, 200, 200]",
    ]


@pytest.mark.parametrize(
    ("example", "tests"),
    [
        ("testing_handlers.py", 4),
        ("testing_auth.py", 2),
        ("testing_dispatcher.py", 2),
        ("testing_inbox.py", 2),
    ],
)
def test_testing_example_tests_pass(example: str, tests: int) -> None:
    """The tests in the docs' testing examples pass when pytest runs them."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "docs/examples" / example),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tests} passed" in result.stdout


def test_verification_example_runs_and_its_handler_answers_401_or_200(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The verification page's examples pass with IDWise's headers and refuse the rest with 401."""
    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "test-token")
    monkeypatch.setenv("IDWISE_WEBHOOK_HEADERS", '{"X-Tenant": "acme"}')
    namespace = runpy.run_path(str(ROOT / "docs/examples/verification.py"), run_name="__main__")
    printed = capsys.readouterr().out

    assert printed.splitlines() == [
        "no_auth: []",
        "basic: ['Authorization']",
        "bearer: ['Authorization']",
        "headers: ['X-Api-Key', 'X-Tenant']",
        "combined: ['Authorization', 'X-Api-Key']",
        "spoofed X-Forwarded-For refused",
    ]
    handle = namespace["handle"]
    body = (ROOT / "tests/payloads/finished_journey.json").read_bytes()
    right = {"authorization": "Bearer test-token", "X-Tenant": "acme"}
    assert handle(body, right, None) == 200
    assert handle(body, {"Authorization": "Bearer test-token"}, None) == 401
    assert handle(b'{"event": "Finished Journey", "body": {}}', right, None) == 400
    assert handle(b"not json", {**right, "X-Tenant": "other"}, None) == 401
    assert "accepted FinishedJourney" in capsys.readouterr().out


def readme_block(language: str, containing: str) -> str:
    """The README's first ``language`` code block that contains ``containing``."""
    readme = (ROOT / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split(f"```{language}\n")[1:]]
    return next(block for block in blocks if containing in block).strip()


def test_the_readme_main_job_is_the_demo_on_the_cli_extra() -> None:
    """The main job installs the `cli` extra and runs `idwise-events demo` (tested in tests/cli)."""
    readme = (ROOT / "README.md").read_text()
    main_job = readme.split("Run the main job", 1)[1].split("```bash\n", 1)[1].split("\n", 1)[0]

    assert main_job == (
        'python3 -m venv .venv && .venv/bin/pip install -q -e ".[cli]"'
        " && .venv/bin/idwise-events demo"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_readme_five_minutes_work_with_flask_run_and_idwise_events_send(
    tmp_path: Path,
) -> None:
    """`flask --app app run` serves the README's app; the README's `send` gets 200 processed."""
    (tmp_path / "app.py").write_text(readme_block("python", "blueprint(dispatcher)"))
    run_line = readme_block("bash", "flask --app app run")
    send_line = readme_block("bash", "idwise-events send")
    variable, run_command = run_line.split(" ", 1)
    name, token = variable.split("=")
    port = free_port()
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bin_dir / "flask"), *shlex.split(run_command)[1:], "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, name: token, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, server)
        send = shlex.split(send_line.replace(":5000/", f":{port}/"))
        sent = subprocess.run(
            [str(bin_dir / send[0]), *send[1:]], capture_output=True, text=True, timeout=60
        )
    finally:
        server.terminate()
        printed, _ = server.communicate(timeout=30)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.splitlines()[-1] == "200 processed  passes IDWise's test (HTTP 200)"
    assert "journey 6720a1f3c9e84b2d5f0e122e finished: Complete" in printed


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    """Wait, at most 30 seconds, until something accepts connections on the port."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within 30 s")


def test_the_cli_page_shows_what_the_commands_print_today() -> None:
    """docs/cli/*.txt match a fresh run of docs/examples/cli_transcript.py."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs/examples/cli_transcript.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_production_line_gives_the_dispatcher_a_shared_sqlite_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The one line the README gives for production builds a dispatcher on SqlStore."""
    from idwise_events import Dispatcher, verifier_from_env
    from idwise_events.stores.sql import SqlStore

    monkeypatch.setenv("IDWISE_WEBHOOK_BEARER_TOKEN", "readme-token")
    monkeypatch.chdir(tmp_path)
    line = readme_block("python", "store=SqlStore(")
    namespace: dict[str, Any] = {
        "Dispatcher": Dispatcher,
        "SqlStore": SqlStore,
        "verifier_from_env": verifier_from_env,
    }
    exec(compile(line, "README.md", "exec"), namespace)  # noqa: S102 -- our own README

    store = namespace["dispatcher"].store
    assert isinstance(store, SqlStore)
    store.close()


def test_the_readme_django_section_matches_the_tested_project() -> None:
    """The README's Django lines are those of the test project (tests/contrib/django runs it)."""
    settings_and_urls = readme_block("python", "INSTALLED_APPS")
    urls = (ROOT / "tests/django_project/urls.py").read_text()
    include_line = 'path("webhooks/", include("idwise_events.contrib.django.urls"))'

    assert include_line in settings_and_urls
    assert include_line in urls
    assert '"idwise_events.contrib.django"' in settings_and_urls
    handlers = readme_block("python", "yourapp/webhooks.py")
    compile(handlers, "README.md", "exec")
    assert "from idwise_events.contrib.django import dispatcher" in handlers


def test_the_readme_manual_path_verifies_then_parses(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's manual path: 200 for a delivery, 401 for a wrong token, 400 for a bad body."""
    namespace: dict[str, Any] = {"__name__": "readme_manual"}
    exec(compile(readme_block("python", "def receive("), "README.md", "exec"), namespace)  # noqa: S102 -- our own README
    receive = namespace["receive"]
    body = (ROOT / "tests/payloads/finished_journey.json").read_bytes()
    right = {"Authorization": "Bearer the-token-entered-in-the-IDWise-portal"}

    assert receive(body, right) == 200
    assert receive(body, {"Authorization": "Bearer guessed"}) == 401
    assert receive(b'{"event": "Finished Journey"}', right) == 400
    assert "6720a1f3c9e84b2d5f0e122e Complete" in capsys.readouterr().out
