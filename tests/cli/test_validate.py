"""`validate`: JSON, JSON arrays and JSON lines, from files or stdin; progress bars on terminals."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

from idwise_events import FinishedJourney, PayloadError, parse_event
from idwise_events.cli._validate import MAX_INPUT_BYTES
from idwise_events.testing import SAMPLE_BODIES, make_event

from .conftest import SCRIPT, WAIT, environment, one_error_line, run

PAYLOADS = Path(__file__).parent.parent / "payloads"
SAMPLE = SAMPLE_BODIES[FinishedJourney]


def error_of(payload: str) -> str:
    """The error parse_event gives for ``payload``: the one validate must show, word for word."""
    try:
        parse_event(payload)
    except PayloadError as exc:
        return str(exc)
    raise AssertionError(f"{payload!r} is valid")


def test_every_sample_payload_is_valid() -> None:
    """The test payloads (current, legacy, extra fields, unknown name) all validate; exit 0."""
    files = sorted(str(path) for path in PAYLOADS.glob("*.json"))

    result = run("validate", *files)

    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == len(files) + 1
    assert all(line.startswith("valid    ") for line in lines[:-1])
    assert lines[-1] == (
        f"{len(files)} payloads: {len(files)} valid, 0 invalid (1 with an event name this version"
        " does not know; 11 with fields the models do not know)"
    )
    journey = str(PAYLOADS / "finished_journey.json")
    assert (
        f"valid    {journey}  Finished Journey eventId=3f1c2a9e-7b4d-4e21-9c0a-5d8e6f7a1b27"
    ) in lines
    assert (
        f"valid    {PAYLOADS / 'verification_update_required.extra.json'}  Verification Update"
        " Required eventId=9c7d2b05-6e3a-4f18-8a4c-0b5e1d9f2c74  unknown fields:"
        " body.gracePeriodDays, body.requiredSteps[0].stepTitle"
    ) in lines


def test_a_bad_file_gets_the_exact_error_and_where_it_is(tmp_path: Path) -> None:
    """A missing field is named by its wire path; bad JSON by line and column; exit 1."""
    missing = tmp_path / "missing.json"
    missing.write_text('{"event": "Finished Journey", "body": {"journeyId": "j-1"}}')
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "event": "Finished Journey",\n  "body": {"journeyId": "j-1",\n')

    result = run("validate", str(missing), str(broken))

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"INVALID  {missing}  {error_of(missing.read_text())}",
        f"INVALID  {broken}  {error_of(broken.read_text())}",
        "2 payloads: 0 valid, 2 invalid",
    ]
    assert "body.systemDecision" in result.stdout  # the field, by its wire name
    assert "line 4 column 0" in result.stdout  # where the JSON broke off


def test_json_lines_and_arrays_are_checked_payload_by_payload(tmp_path: Path) -> None:
    """Mixed input: each payload is reported at its line or index, good and bad alike."""
    good = make_event("Finished Step").model_dump_json(by_alias=True)
    not_a_body = '{"event": "Finished Journey", "body": []}'
    lines = tmp_path / "deliveries.jsonl"
    lines.write_text(f"{good}\n\nnot json\n{not_a_body}\n")
    array = tmp_path / "list.json"
    array.write_text(json.dumps([json.loads(good), 3]))

    result = run("validate", "--quiet", str(lines), str(array))

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"INVALID  {lines}:3  {error_of('not json')}",
        f"INVALID  {lines}:4  {error_of(not_a_body)}",
        f"INVALID  {array}[1]  {error_of('3')}",
        "5 payloads: 2 valid, 3 invalid",
    ]


def test_stdin_is_read_with_a_dash() -> None:
    """`validate -` reads JSON lines from stdin; a legacy payload says it has no eventId."""
    legacy = (PAYLOADS / "finished_journey.legacy.json").read_text()
    current = (PAYLOADS / "finished_journey.json").read_text()
    stdin = json.dumps(json.loads(legacy)) + "\n" + json.dumps(json.loads(current)) + "\n"

    result = run("validate", "-", input=stdin)

    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "valid    <stdin>:1  Finished Journey (no eventId: legacy)",
        "valid    <stdin>:2  Finished Journey eventId=3f1c2a9e-7b4d-4e21-9c0a-5d8e6f7a1b27",
        "2 payloads: 2 valid, 0 invalid",
    ]


def test_an_empty_input_is_invalid_and_an_unreadable_one_an_error(tmp_path: Path) -> None:
    """Nothing in a file is reported as such; a file that cannot be read stops the command."""
    empty = tmp_path / "empty.json"
    empty.write_text("\n")

    nothing = run("validate", str(empty))
    unreadable = run("validate", str(empty), str(tmp_path))

    assert nothing.returncode == 1
    assert nothing.stdout.splitlines()[0] == f"INVALID  {empty}  empty: no payload in it"
    assert unreadable.returncode == 1
    assert unreadable.stdout == ""
    assert one_error_line(unreadable) == (
        f"idwise-events validate: error: cannot read {tmp_path}: it is a directory, not a regular"
        f" file (to read it anyway, give it as stdin: validate - < {tmp_path})"
    )


def many_payloads(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "many.jsonl"
    line = make_event("Finished Journey").model_dump_json(by_alias=True)
    path.write_text((line + "\n") * count)
    return path


def test_a_large_input_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here) a long run draws a progress bar, then the summary."""
    path = many_payloads(tmp_path, 3000)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(SCRIPT), "validate", "--quiet", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=environment({"TERM": "xterm"}),
    )
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other side closed: the command has ended
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(controller)
        status = process.wait(timeout=WAIT)

    text = screen.decode("utf-8", "replace")
    assert status == 0
    assert "validating" in text
    assert "/3000" in text  # the bar's count of payloads checked
    assert "3000 payloads: 3000 valid, 0 invalid" in text


def test_no_progress_bar_when_the_output_is_not_a_terminal(tmp_path: Path) -> None:
    """Piped or redirected, the output has the results and the summary and nothing else."""
    result = run("validate", "--quiet", str(many_payloads(tmp_path, 3000)))

    assert result.returncode == 0
    assert result.stdout == "3000 payloads: 3000 valid, 0 invalid\n"
    assert result.stderr == ""


def test_a_payload_nested_1000_deep_is_invalid_and_the_other_files_still_checked(
    tmp_path: Path,
) -> None:
    """Too deep for Python's JSON decoder: reported as parse_event reports it, the run goes on."""
    deep = tmp_path / "deep.json"
    deep.write_text('{"event": "Finished Journey", "body": ' + "[" * 1000 + "]" * 1000 + "}")
    deep_lines = tmp_path / "deep.txt"
    deep_lines.write_text(deep.read_text() + "\n" + deep.read_text() + "\n")
    good = PAYLOADS / "finished_journey.json"

    result = run("validate", "--quiet", str(deep), str(deep_lines), str(good))

    assert result.returncode == 1
    assert result.stderr == ""
    error = error_of(deep.read_text())
    assert "nested too deeply" in error
    assert result.stdout.splitlines() == [  # the same on every Python, whatever json.loads does
        f"INVALID  {deep}  {error}",
        f"INVALID  {deep_lines}:1  {error}",
        f"INVALID  {deep_lines}:2  {error}",
        "4 payloads: 1 valid, 3 invalid",
    ]


def test_a_fifo_or_a_device_is_refused_at_once_instead_of_read_for_ever(tmp_path: Path) -> None:
    """A FIFO with no writer would block, /dev/zero never ends: both are refused, naming why."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)

    from_fifo = run("validate", str(fifo))
    from_device = run("validate", "/dev/zero")

    assert from_fifo.returncode == from_device.returncode == 1
    assert one_error_line(from_fifo) == (
        f"idwise-events validate: error: cannot read {fifo}: it is a FIFO (named pipe), not a"
        f" regular file (to read it anyway, give it as stdin: validate - < {fifo})"
    )
    assert one_error_line(from_device).startswith(
        "idwise-events validate: error: cannot read /dev/zero: it is a device, not a regular file"
    )


def test_stdin_is_read_up_to_the_limit_then_refused() -> None:
    """An endless stdin stops at MAX_INPUT_BYTES with one clear line, not a MemoryError."""
    with open("/dev/zero", "rb") as endless:
        result = subprocess.run(
            [str(SCRIPT), "validate", "-"],
            stdin=endless,
            capture_output=True,
            text=True,
            env=environment(),
            timeout=120,
            check=False,
        )

    assert result.returncode == 1
    assert one_error_line(result) == (
        f"idwise-events validate: error: stdin holds more than {MAX_INPUT_BYTES // 2**20} MiB:"
        " validate reads at most that much of one input (split it: split -l 100000 events.jsonl)"
    )


def test_control_characters_in_payloads_are_escaped_and_long_values_cut(tmp_path: Path) -> None:
    """An eventId or event name with a newline, ESC or 200 KB never reaches the terminal raw."""
    hostile = "evt\n\x1b[31mforged line\r\n\u202e"
    lines = tmp_path / "hostile.jsonl"
    lines.write_text(
        json.dumps({"event": "Finished Journey", "body": {**SAMPLE, "eventId": hostile}})
        + "\n"
        + json.dumps({"event": "Journey\x1b]0;title\x07", "body": {"eventId": "x" * 200_000}})
        + "\n"
    )

    result = run("validate", str(lines))

    assert result.returncode == 0
    first, second, summary = result.stdout.splitlines()
    assert first == (
        f"valid    {lines}:1  Finished Journey eventId=evt\\n\\x1b[31mforged line\\r\\n\\u202e"
    )
    assert second == (
        f"valid    {lines}:2  unknown event name 'Journey\\x1b]0;title\\x07'"
        f" eventId={'x' * 200}… (200000 characters)"
    )
    assert summary.startswith("2 payloads: 2 valid, 0 invalid")
    assert "\x1b" not in result.stdout
