"""``idwise-events validate``: check JSON and JSON-lines payloads against the webhook models."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from .._errors import PayloadError
from .._parse import parse_event
from ._common import CliError, stdout
from ._describe import describe

PROGRESS_FROM = 2000
"""Show a progress bar from this many payloads on, when the output is a terminal."""
_LINES_SUFFIXES = (".jsonl", ".ndjson")
_STDIN = "-"

Payload = tuple[str, bytes]
"""Where a payload is (``events.jsonl:3``, ``list.json[2]``) and its JSON bytes."""
ReportStep = Callable[[], None]
"""Called once per payload checked, to move the progress bar."""


@click.command(short_help="Check payload files against the webhook models.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only the invalid payloads and the summary."
)
def validate(paths: tuple[str, ...], quiet: bool) -> int:
    """Check webhook payloads: per payload its event type, or the exact error and where it is.

    Each PATH (or "-" for stdin) holds one JSON envelope, a JSON array of envelopes, or JSON lines
    (one envelope per line; always so for .jsonl and .ndjson files). Exits 1 if any payload is
    invalid. An event name this version does not know is valid (the receiver acknowledges it);
    it is flagged, as are fields the models do not know.
    """
    inputs = [(_name(path), _read(path)) for path in paths]  # every file readable before any work
    payloads = [payload for name, data in inputs for payload in split(name, data)]
    out = stdout()
    valid = invalid = unknown_names = unknown_fields = 0
    with _progress(out, len(payloads)) as (console, advance):
        for where, raw in payloads:
            try:
                description = describe(parse_event(raw))
            except PayloadError as exc:
                invalid += 1
                error = str(exc) if raw.strip() else "empty: no payload in it"
                console.print(Text.assemble(("INVALID", "bold red"), f"  {where}  {error}"))
            else:
                valid += 1
                unknown_names += not description.known
                unknown_fields += bool(description.unknown_fields)
                if not quiet:
                    line = Text.assemble(("valid", "green"), f"    {where}  ")
                    if description.known:
                        line.append(description.event, style="bold")
                    else:
                        line.append(f"unknown event name {description.event!r}", style="yellow")
                    line.append(
                        f" eventId={description.event_id}"
                        if description.event_id
                        else " (no eventId: legacy)"
                    )
                    if description.unknown_fields:
                        line.append(
                            f"  unknown fields: {', '.join(description.unknown_fields)}",
                            style="yellow",
                        )
                    console.print(line)
            advance()
    notes = []
    if unknown_names:
        notes.append(f"{unknown_names} with an event name this version does not know")
    if unknown_fields:
        notes.append(f"{unknown_fields} with fields the models do not know")
    plural = "" if len(payloads) == 1 else "s"
    summary = f"{len(payloads)} payload{plural}: {valid} valid, {invalid} invalid"
    out.print(summary + (f" ({'; '.join(notes)})" if notes else ""), style="red" if invalid else "")
    return 1 if invalid else 0


def split(name: str, data: bytes) -> list[Payload]:
    """The payloads in one input: a JSON value (an array is several payloads) or JSON lines."""
    if not data.strip():
        return [(name, data)]
    if name.endswith(_LINES_SUFFIXES) or _looks_like_json_lines(data):
        return [
            (f"{name}:{number}", line)
            for number, line in enumerate(data.splitlines(), 1)
            if line.strip()
        ]
    try:
        value = json.loads(data)
    except ValueError:
        return [(name, data)]  # parse_event says what is wrong, and where
    if isinstance(value, list):
        return [(f"{name}[{index}]", json.dumps(item).encode()) for index, item in enumerate(value)]
    return [(name, data)]


def _looks_like_json_lines(data: bytes) -> bool:
    """True if the whole is not one JSON value but its first line is a JSON object on its own."""
    try:
        json.loads(data)
    except ValueError:
        first = next(line for line in data.splitlines() if line.strip())
        try:
            return isinstance(json.loads(first), dict)
        except ValueError:
            return False
    return False


def _name(path: str) -> str:
    return "<stdin>" if path == _STDIN else path


def _read(path: str) -> bytes:
    if path == _STDIN:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc


@contextmanager
def _progress(out: Console, total: int) -> Iterator[tuple[Console, ReportStep]]:
    """A progress bar for a long run on a terminal; elsewhere, the plain console."""
    if total < PROGRESS_FROM or not out.is_terminal:
        yield out, _nothing
        return
    columns = (
        TextColumn("validating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("validating", total=total)
        yield progress.console, lambda: progress.advance(task)


def _nothing() -> None:
    pass
