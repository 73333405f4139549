"""``idwise-events send``: play IDWise, posting a sample of any webhook type (or a file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.text import Text

from .._errors import PayloadError
from .._parse import parse_event
from ..testing import auth_headers, make_event
from ._common import (
    CliError,
    auth_options,
    body_aliases,
    event_model,
    known_types,
    quiet_library_log,
    stdout,
    verifier_from_flags,
)
from ._describe import describe
from ._http import check_url, post


@click.command(short_help="Send a webhook as IDWise would.")
@click.argument("type_or_file", metavar="TYPE_OR_FILE")
@click.option("--url", required=True, help="Where to POST: your endpoint, or `listen`'s.")
@auth_options
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Change a body field (wire or attribute name); VALUE is read as JSON when it is JSON,"
    " else as text; null removes the field. Repeat for several.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Send it this many times, with the same eventId, as IDWise's retries do.",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Seconds."
)
def send(
    type_or_file: str,
    url: str,
    basic: str | None,
    bearer: str | None,
    headers: tuple[str, ...],
    changes: tuple[str, ...],
    repeat: int,
    timeout: float,
) -> int:
    """Send a webhook as IDWise would: a realistic sample of a type, or a payload file.

    TYPE_OR_FILE is an event type ("Finished Journey", FinishedJourney or finished-journey; a
    fresh eventId each run) or a JSON file sent byte for byte ("-" for stdin). The request has
    the headers IDWise sends: Content-Type, and the credentials the flags or the IDWISE_WEBHOOK_*
    variables describe. Exits 0 if every delivery got HTTP 200, which is what IDWise's test needs.
    """
    quiet_library_log()
    check_url(url)
    verifier, auth = verifier_from_flags(basic, bearer, headers)
    overrides = dict(_change(change) for change in changes)
    body = _body(type_or_file, overrides)
    sent = {"Content-Type": "application/json", **(auth_headers(verifier) if verifier else {})}
    out = stdout()
    out.print(Text.assemble("POST ", (url, "bold"), f" with {auth}: ", _about(body)))
    all_ok = True
    for attempt in range(1, repeat + 1):
        answer = post(url, body, sent, timeout=timeout)
        ok = answer.status == 200
        all_ok &= ok
        verdict = (
            "passes IDWise's test (HTTP 200)"
            if ok
            else "fails IDWise's test: IDWise would retry (only HTTP 200 counts)"
        )
        out.print(
            Text.assemble(
                f"#{attempt} " if repeat > 1 else "",
                (str(answer.status), "bold green" if ok else "bold red"),
                " ",
                _answer_text(answer.body),
                "  ",
                (verdict, "green" if ok else "red"),
            )
        )
    return 0 if all_ok else 1


def _change(change: str) -> tuple[str, Any]:
    name, equals, text = change.partition("=")
    if not equals or not name.strip():
        raise click.UsageError(f"--set takes FIELD=VALUE, not {change!r}")
    try:
        value = json.loads(text)
    except ValueError:
        value = text  # plain text, as most field values are
    return name.strip(), value


def _body(type_or_file: str, overrides: dict[str, Any]) -> bytes:
    """The bytes to send: the sample of a type with the changes, or the file (changed if asked)."""
    if type_or_file == "-" or Path(type_or_file).is_file():
        raw = _read(type_or_file)
        return _apply(raw, overrides, type_or_file) if overrides else raw
    model = event_model(type_or_file)
    if model is None:
        raise click.UsageError(
            f"{type_or_file!r} is neither a file nor an event type ({known_types()})"
        )
    try:
        event = make_event(model, **overrides)
    except ValidationError as exc:
        raise CliError(
            f"--set makes an invalid {model.event_type.value!r}: {_errors(exc)}"
        ) from exc
    # Only the fields the sample has: an explicit null stays, an absent field stays absent.
    return event.model_dump_json(by_alias=True, exclude_unset=True).encode()


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _apply(raw: bytes, overrides: dict[str, Any], name: str) -> bytes:
    """The file's envelope with ``overrides`` applied to its body (by wire or attribute name)."""
    try:
        envelope = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"--set needs a JSON envelope, and {name} is not JSON: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), dict):
        raise CliError(f'--set needs {name} to be an envelope {{"event": ..., "body": {{...}}}}')
    model = event_model(str(envelope.get("event", "")))
    aliases = body_aliases(model) if model is not None else {}
    for field, value in overrides.items():
        key = aliases.get(field, field)
        if value is None:
            envelope["body"].pop(key, None)
        else:
            envelope["body"][key] = value
    return json.dumps(envelope).encode()


def _about(body: bytes) -> Text:
    """What is being sent, in a few words: the type and eventId, or why it is not a webhook."""
    try:
        event = parse_event(body)
    except PayloadError as exc:
        return Text(f"a payload that is not a valid webhook ({exc})", style="yellow")
    description = describe(event)
    text = Text(description.event, style="bold")
    text.append(f" eventId={description.event_id}" if description.event_id else " (no eventId)")
    if not description.known:
        text.append(" (an event name this version does not know)", style="yellow")
    return text


def _answer_text(body: bytes) -> str:
    """The response body on one line: the outcome for this library's receivers, else its start."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("outcome"), str):
        detail = answer.get("detail")
        return str(answer["outcome"]) + (f" ({detail})" if detail else "")
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:120] + ("…" if len(text) > 120 else "")


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )
