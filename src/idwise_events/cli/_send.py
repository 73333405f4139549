"""``idwise-events send``: play IDWise, posting a sample of any webhook type (or a file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from .._errors import PayloadError
from .._parse import parse_event
from ..testing import auth_headers
from ..testing._samples import body_aliases, event_model, known_types, sample_envelope
from ..testing._sender import Answer
from ._common import (
    MAX_TIMEOUT,
    CliError,
    FiniteFloat,
    auth_options,
    quiet_library_log,
    stdout,
    verifier_from_flags,
)
from ._describe import describe
from ._http import post, url_and_credentials
from ._terminal import MESSAGE_LIMIT, printable


@click.command(short_help="Send a webhook as IDWise would.")
@click.argument("type_or_file", metavar="TYPE_OR_FILE")
@click.option(
    "--url",
    required=True,
    help="Where to POST: your endpoint, or `listen`'s. Credentials in it (http://USER:PASS@host/)"
    " are sent as Basic Authentication, as curl does, and never printed.",
)
@auth_options
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Set a body field (wire or attribute name). VALUE is read as JSON when it is JSON"
    ' (null, 3, true, [1], {...}, "text"), else as text. Repeat for several.',
)
@click.option(
    "--unset",
    "removals",
    multiple=True,
    metavar="FIELD",
    help="Remove a body field (--unset eventId: a legacy payload). Repeat for several.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Send it this many times, with the same eventId, as IDWise's retries do.",
)
@click.option(
    "--timeout",
    type=FiniteFloat(min=0.1, max=MAX_TIMEOUT),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each answer.",
)
def send(
    type_or_file: str,
    url: str,
    basic: str | None,
    bearer: str | None,
    headers: tuple[str, ...],
    changes: tuple[str, ...],
    removals: tuple[str, ...],
    repeat: int,
    timeout: float,
) -> int:
    """Send a webhook as IDWise would: a realistic sample of a type, or a payload file.

    TYPE_OR_FILE is an event type ("Finished Journey", FinishedJourney or finished-journey; a
    fresh eventId each run) or a JSON file sent byte for byte ("-" for stdin). The request has
    the headers IDWise sends: Content-Type, and the credentials the flags, the URL or the
    IDWISE_WEBHOOK_* variables describe. --set and --unset change the body, into an invalid one
    if you like (to try your 400 path). Like IDWise, it follows no redirect. Exits 0 if every
    delivery got HTTP 200, which is what IDWise's test needs.
    """
    quiet_library_log()
    url, in_url = url_and_credentials(url)
    if in_url is not None:
        basic = _basic_from_url(in_url, basic=basic, bearer=bearer)
    verifier, auth = verifier_from_flags(basic, bearer, headers)
    if in_url is not None:
        auth = auth.replace("Basic Authentication", "Basic Authentication (from the URL)", 1)
    overrides = dict(_change(change) for change in changes)
    body = _body(type_or_file, overrides, removals)
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
                _answer_text(answer),
                "  ",
                (verdict, "green" if ok else "red"),
            )
        )
    return 0 if all_ok else 1


def _basic_from_url(credentials: tuple[str, str], *, basic: str | None, bearer: str | None) -> str:
    """The URL's credentials as ``--basic`` would give them; the flags must not give others."""
    user, password = credentials
    if basic is not None:
        raise click.UsageError("--url holds credentials and --basic gives others: pick one")
    if bearer is not None:
        raise click.UsageError(
            "--url holds Basic credentials and --bearer sets the Authorization header too: pick one"
        )
    return f"{user}:{password}"


def _change(change: str) -> tuple[str, Any]:
    name, equals, text = change.partition("=")
    if not equals or not name.strip():
        raise click.UsageError(f"--set takes FIELD=VALUE, not {printable(change)!r}")
    try:
        change.encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes from the shell that are not UTF-8
        raise click.UsageError(f"--set {printable(name)}: the value is not UTF-8 text") from exc
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = text  # plain text, as most field values are
    return name.strip(), value


def _body(type_or_file: str, overrides: dict[str, Any], removals: tuple[str, ...]) -> bytes:
    """The bytes to send: the sample of a type, or the file, with the changes if any."""
    if type_or_file == "-" or Path(type_or_file).is_file():
        raw = _read(type_or_file)
        if not overrides and not removals:
            return raw
        return _changed(_envelope_of(raw, type_or_file), overrides, removals)
    model = event_model(type_or_file)
    if model is None:
        raise click.UsageError(
            f"{printable(type_or_file)!r} is neither a file nor an event type"
            f" ({known_types(type_or_file)})"
        )
    envelope = sample_envelope(model, model.event_type.value, {})
    return _changed(envelope, overrides, removals)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _envelope_of(raw: bytes, name: str) -> dict[str, Any]:
    """The file's envelope, to change; `CliError` if it is not one."""
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CliError(f"--set and --unset need a JSON envelope, and {name} is not JSON") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), dict):
        raise CliError(
            f'--set and --unset need {name} to be an envelope {{"event": ..., "body": {{...}}}}'
        )
    return envelope


def _changed(
    envelope: dict[str, Any], overrides: dict[str, Any], removals: tuple[str, ...]
) -> bytes:
    """The envelope with its body changed (fields by wire or attribute name), as JSON bytes.

    Not validated: a change may make it invalid, which is how to try a receiver's 400 path.
    """
    model = event_model(str(envelope.get("event", "")))
    aliases = body_aliases(model) if model is not None else {}
    body = envelope["body"]
    for field, value in overrides.items():
        body[aliases.get(field, field)] = value
    for field in removals:
        if body.pop(aliases.get(field, field), _ABSENT) is _ABSENT:
            raise click.UsageError(
                f"--unset {printable(field)}: the body has no such field"
                f" (it has {', '.join(printable(name) for name in body)})"
            )
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


_ABSENT = object()


def _about(body: bytes) -> Text:
    """What is being sent in a few words (type, eventId, unknown fields), or why not a webhook."""
    try:
        event = parse_event(body)
    except PayloadError as exc:
        reason = printable(str(exc), limit=MESSAGE_LIMIT)
        return Text(f"a payload that is not a valid webhook ({reason})", style="yellow")
    description = describe(event)
    text = Text(description.name_text(), style="bold")
    text.append(
        f" eventId={printable(description.event_id)}" if description.event_id else " (no eventId)"
    )
    if not description.known:
        text.append(" (an event name this version does not know)", style="yellow")
    elif description.unknown_fields:  # (a typo in --set, say: the field would not change)
        text.append(f" unknown fields: {description.unknown_text()}", style="yellow")
    return text


def _answer_text(answer: Answer) -> str:
    """The answer on one line: where a redirect points, this library's outcome, else the body."""
    if answer.redirected:
        where = printable(answer.location) if answer.location else "nowhere (no Location header)"
        return f"redirected to {where}: IDWise does not follow redirects"
    try:
        decoded = json.loads(answer.body)
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("outcome"), str):
        detail = decoded.get("detail")
        outcome = printable(decoded["outcome"])
        return outcome + (f" ({printable(detail, limit=MESSAGE_LIMIT)})" if detail else "")
    return printable(" ".join(answer.body.decode("utf-8", "replace").split()), limit=120)
