"""`demo`: the README's main job, end to end: a real server, real HTTP, the SQLite store."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from idwise_events import Dispatcher, IpAllowlist, MemoryStore
from idwise_events.adapters import DEFAULT_PATH, asgi
from idwise_events.cli._http import post, serving_asgi
from idwise_events.testing import SAMPLE_BODIES, make_event
from idwise_events.testing.postgres import _free_port

from .conftest import one_error_line, run

TYPES = [model.event_type.value for model in SAMPLE_BODIES]


def rows(output: str) -> dict[str, list[str]]:
    """The table's rows by event type: [first, retry, what the handler saw], wrapped cells joined.

    Columns are cut where the header's titles start; a row starts where "First" has a status.
    """
    lines = output.splitlines()
    header = next(line for line in lines if "Event type" in line and "First" in line)
    titles = ["Event type", "First", "Retry", "What the handler saw"]
    starts = [header.index(title) for title in titles]
    table: list[list[str]] = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.strip():
            break
        cells = [
            line[start:end].strip()
            for start, end in zip(starts, [*starts[1:], len(line)], strict=True)
        ]
        if cells[1]:
            table.append(cells)
        else:  # a wrapped line of the row above
            table[-1] = [
                " ".join(filter(None, pair)) for pair in zip(table[-1], cells, strict=True)
            ]
    return {name: rest for name, *rest in table}


def test_demo_delivers_every_type_twice_and_refuses_the_forgery(tmp_path: Path) -> None:
    """First delivery processed, retry a duplicate, the handler saw each typed event once."""
    database = tmp_path / "demo.db"

    result = run("demo", "--db", str(database))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    table = rows(result.stdout)
    assert list(table) == [*TYPES, "forged request"]
    for name in TYPES:
        assert table[name][:2] == ["200 processed", "200 duplicate"], name
    assert table["Finished Journey"][2] == "FinishedJourney system_decision=Complete"
    assert table["Manually Reviewed"][2] == (
        "ManuallyReviewed system_decision=Refer manual_decision=Approved final_decision=Approved"
    )
    assert table["Step Submitted"][2] == "StepSubmitted step_id=1 step_type=Document"
    assert table["forged request"] == ["401 unauthorized", "", "nothing"]
    assert re.search(
        r"receiver  http://127\.0\.0\.1:\d+/webhooks/idwise \(the WSGI app", result.stdout
    )
    assert result.stdout.splitlines()[-2:] == [
        "11 event types: 11 processed, handler run once each; 11 retries acknowledged as"
        " duplicates; forged request answered 401.",
        f"The store {database} remembers them: run again and every delivery is a duplicate.",
    ]


def test_a_second_run_on_the_same_store_processes_nothing(tmp_path: Path) -> None:
    """The store remembers: every delivery of the second run is a duplicate, no handler runs."""
    database = tmp_path / "demo.db"
    run("demo", "--db", str(database))

    again = run("demo", "--db", str(database))

    assert again.returncode == 0
    table = rows(again.stdout)
    for name in TYPES:
        assert table[name] == [
            "200 duplicate",
            "200 duplicate",
            "nothing: processed in an earlier run",
        ], name
    summary = " ".join(again.stdout.split())  # as one line, however the terminal wrapped it
    assert (
        "11 event types: 11 processed in an earlier run, handler not run again; 11 retries"
        " acknowledged as duplicates; forged request answered 401." in summary
    )


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_demo_runs_under_either_server_on_a_temporary_store(server: str) -> None:
    """Under wsgiref or uvicorn, with a temporary store that is gone afterwards."""
    result = run("demo", "--server", server)

    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result.stdout)
    assert [table[name][:2] for name in TYPES] == [["200 processed", "200 duplicate"]] * 11
    app = "the WSGI app under wsgiref" if server == "wsgi" else "the ASGI app under uvicorn"
    assert f"({app})" in result.stdout
    found = re.search(r"store     SqlStore on SQLite, (\S+) \(temporary\)", result.stdout)
    assert found, result.stdout
    assert not Path(found.group(1)).exists()


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_demo_takes_the_port_it_is_given_and_says_when_it_is_taken(server: str) -> None:
    """Where only some ports may be used: --port; one in use is one line and exit 1."""
    port = _free_port()
    result = run("demo", "--server", server, "--port", str(port))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("demo", "--server", server, "--port", str(taken.getsockname()[1]))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"receiver  http://127.0.0.1:{port}{DEFAULT_PATH} " in result.stdout
    assert busy.returncode == 1
    assert "the address is already in use" in one_error_line(busy)


def test_the_asgi_server_ignores_a_forged_x_forwarded_for() -> None:
    """Proxy headers are off in uvicorn: a local client cannot pass IpAllowlist as another IP."""
    dispatcher = Dispatcher(verifier=IpAllowlist(["203.0.113.0/24"]), store=MemoryStore())
    body = make_event("Finished Journey").model_dump_json(by_alias=True).encode()
    forged = {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"}

    with serving_asgi(asgi.app(dispatcher)) as base_url:
        answer = post(base_url + DEFAULT_PATH, body, forged, timeout=30)

    assert answer.status == 401
