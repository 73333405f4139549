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
                assert line.startswith('--8<-- "'), f"{page.name}: {line}"
                included.append(line.split('"')[1].split(":")[0])  # file[:section]
    assert included
    for path in included:
        assert (ROOT / path).is_file(), path


def test_quickstart_prints_what_the_docs_show(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/index.md quotes the quickstart's output; it must be the real output."""
    runpy.run_path(str(ROOT / "docs/examples/quickstart.py"), run_name="__main__")
    printed = capsys.readouterr().out

    index = (ROOT / "docs/index.md").read_text()
    shown = index.split("Running it prints:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert printed == shown


def test_readme_quickstart_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's quickstart code accepts a real payload and refuses a broken one."""
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 -- our own README

    ok = namespace["on_webhook"]((ROOT / "tests/payloads/finished_journey.json").read_bytes())
    unknown = namespace["on_webhook"](b'{"event": "Journey Archived", "body": {}}')
    bad = namespace["on_webhook"](b'{"event": "Finished Journey", "body": {}}')

    assert (ok, unknown, bad) == (200, 200, 400)
    printed = capsys.readouterr().out
    assert "6720a1f3c9e84b2d5f0e122e Complete 3f1c2a9e-7b4d-4e21-9c0a-5d8e6f7a1b27" in printed
    assert "rejected: invalid 'Finished Journey' event: body.journeyId: Field required" in printed


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


@pytest.mark.parametrize(("example", "tests"), [("testing_handlers.py", 3), ("testing_auth.py", 2)])
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

    Retries are skipped, a forged request is refused, and a second run over the same database
    skips every delivery.
    """
    database = str(tmp_path / "events.db")
    command = [sys.executable, str(ROOT / "examples/receive_samples.py"), database]

    first = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    lines = first.splitlines()
    assert lines[0] == f"idempotency store: {database}"
    assert [line.split()[:3] for line in lines[1:3]] == [
        ["FinishedJourney", "first", "processed"],
        ["FinishedJourney", "retry", "duplicate,"],
    ]
    assert first.count("processed") == 11
    assert first.count("duplicate, skipped") == 11
    assert lines[-1].endswith("refused: missing or invalid credentials")
    assert second.count("processed") == 0
    assert second.count("duplicate, skipped") == 22
