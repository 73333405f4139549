"""``idwise-events validate``: check JSON and JSON-lines payloads against the webhook models."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from .._errors import PayloadError
from .._parse import DEFAULT_MAX_BYTES, parse_event
from ._common import CliError, stdout
from ._describe import Description, describe
from ._terminal import MESSAGE_LIMIT, printable

MAX_INPUT_BYTES = 64 * 2**20
"""The most `validate` reads of one input: /dev/zero or an endless pipe stops there, with an
error. Each payload must be under `parse_event`'s 1 MiB limit anyway."""
PROGRESS_FROM = 2000
"""Show a progress bar from this many payloads on, when the output is a terminal."""
_LINES_SUFFIXES = (".jsonl", ".ndjson")
_STDIN = "-"
_NOT_JSON = object()

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
            shown_where = printable(where, limit=MESSAGE_LIMIT)
            try:
                description = describe(parse_event(raw))
            except PayloadError as exc:
                invalid += 1
                error = str(exc) if raw.strip() else "empty: no payload in it"
                error = printable(error, limit=MESSAGE_LIMIT)
                console.print(Text.assemble(("INVALID", "bold red"), f"  {shown_where}  {error}"))
            else:
                valid += 1
                unknown_names += not description.known
                unknown_fields += bool(description.unknown_fields)
                if not quiet:
                    console.print(_valid_line(shown_where, description))
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
    """The payloads in one input: a JSON value (an array is several payloads) or JSON lines.

    Never raises for what the input holds: anything that is not JSON, or too deep for Python's
    own JSON decoder, is passed on whole for `parse_event` to say what is wrong with it.
    """
    if not data.strip():
        return [(name, data)]
    if name.endswith(_LINES_SUFFIXES):
        return _lines(name, data)
    value = _decoded(data)
    if value is _NOT_JSON:
        return _lines(name, data) if _first_line_is_an_object(data) else [(name, data)]
    if not isinstance(value, list):
        return [(name, data)]
    try:
        return [(f"{name}[{index}]", json.dumps(item).encode()) for index, item in enumerate(value)]
    except RecursionError:  # an item too deep to encode again: check the array as it is
        return [(name, data)]


def _lines(name: str, data: bytes) -> list[Payload]:
    numbered = enumerate(data.splitlines(), 1)
    return [(f"{name}:{number}", line) for number, line in numbered if line.strip()]


def _first_line_is_an_object(data: bytes) -> bool:
    """True if the first line (not the whole, which is not JSON) is a JSON object on its own."""
    first = next(line for line in data.splitlines() if line.strip())
    if len(first) > DEFAULT_MAX_BYTES or len(first) == len(data.strip()):
        return False  # too large to be a payload, or the whole input: one payload, invalid
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False
    except RecursionError:  # too deep for this Python's decoder (3.12's goes deeper): an object
        return first.lstrip().startswith(b"{")  # all the same, as every Python sees it


def _decoded(data: bytes) -> Any:
    """``json.loads(data)``, or `_NOT_JSON` if it is not JSON or nested too deep to decode."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _valid_line(where: str, description: Description) -> Text:
    line = Text.assemble(("valid", "green"), f"    {where}  ")
    if description.known:
        line.append(description.name_text(), style="bold")
    else:
        line.append(f"unknown event name {printable(repr(description.event))}", style="yellow")
    line.append(
        f" eventId={printable(description.event_id)}"
        if description.event_id
        else " (no eventId: legacy)"
    )
    if description.unknown_fields:
        line.append(f"  unknown fields: {description.unknown_text()}", style="yellow")
    return line


def _name(path: str) -> str:
    return "<stdin>" if path == _STDIN else path


def _read(path: str) -> bytes:
    """The input's bytes, at most `MAX_INPUT_BYTES`; never waiting on a FIFO or a device.

    Raises:
        CliError: If the file cannot be opened, is not a regular file, or is too large.
    """
    if path == _STDIN:
        return _bounded(sys.stdin.buffer, "stdin")
    try:
        # Non-blocking: opening a FIFO with no writer would otherwise wait for one for good.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    kind = _kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise CliError(
            f"cannot read {path}: it is {kind}, not a regular file (to read it anyway,"
            f" give it as stdin: validate - < {path})"
        )
    with os.fdopen(fd, "rb") as file:
        try:
            return _bounded(file, path)
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _kind(mode: int) -> str | None:
    """What a file that is not a regular one is, or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a file"


def _bounded(file: BinaryIO, name: str) -> bytes:
    data = file.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise CliError(
            f"{name} holds more than {MAX_INPUT_BYTES // 2**20} MiB: validate reads at most that"
            " much of one input (split it: split -l 100000 events.jsonl)"
        )
    return data


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
