"""The code shown in the docs and the README runs and does what the docs say."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent


def test_snippet_includes_in_the_docs_name_existing_files() -> None:
    """Every `--8<--` include is intact (no formatter mangled it) and names a real file."""
    included = []
    for page in (ROOT / "docs").glob("**/*.md"):
        for line in page.read_text().splitlines():
            if "--8" in line:
                # Indented only inside a tab or an admonition, by a multiple of four spaces.
                indent = len(line) - len(line.lstrip(" "))
                assert indent % 4 == 0, f"{page.name}: {line}"
                assert line[indent:].startswith('--8<-- "'), f"{page.name}: {line}"
                included.append(line.split('"')[1].split(":")[0])  # file[:section]
    assert included
    for path in included:
        assert (ROOT / path).is_file(), path


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

    assert '--8<-- "examples/flask_receiver.py"' in index
    assert '--8<-- "examples/fastapi_receiver.py"' in index
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
    [("testing_handlers.py", 4), ("testing_auth.py", 2), ("testing_dispatcher.py", 2)],
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
    assert handle(b"not json", {**right, "X-Tenant": "other"}, None) == 401
    assert "accepted FinishedJourney" in capsys.readouterr().out


def test_main_example_processes_each_type_once_across_runs(tmp_path: Path) -> None:
    """The README's main command processes each type once and remembers it across runs.

    Retries are acknowledged as duplicates, a forged request is refused with 401, and a second
    run over the same database processes nothing.
    """
    database = str(tmp_path / "events.db")
    command = [sys.executable, str(ROOT / "examples/receive_samples.py"), database]

    first = subprocess.run(command, capture_output=True, text=True, check=True)
    second = subprocess.run(command, capture_output=True, text=True, check=True)

    lines = first.stdout.splitlines()
    assert lines[0] == f"idempotency store: {database}"
    assert lines[1].split() == ["type", "delivery", "status", "outcome"]
    rows = [line.split() for line in lines[2:-2]]
    assert len(rows) == 22
    assert rows[:2] == [
        ["FinishedJourney", "first", "200", "processed"],
        ["FinishedJourney", "retry", "200", "duplicate"],
    ]
    assert [row[1:] for row in rows] == [
        ["first", "200", "processed"],
        ["retry", "200", "duplicate"],
    ] * 11
    assert len({row[0] for row in rows}) == 11
    assert lines[-2].split() == ["forged", "request", "-", "401", "unauthorized"]
    assert lines[-1] == "handlers ran for 11 events"
    assert "unauthorized, answered 401" in first.stderr  # the dispatcher's log record

    again = second.stdout.splitlines()
    assert [line.split()[1:] for line in again[2:-2]] == [
        ["first", "200", "duplicate"],
        ["retry", "200", "duplicate"],
    ] * 11
    assert again[-2].split()[-2:] == ["401", "unauthorized"]
    assert again[-1] == "handlers ran for 0 events"
