"""``idwise-events demo``: every webhook type delivered twice to a real receiver, over real HTTP."""

from __future__ import annotations

import json
import secrets
import tempfile
import uuid
from contextlib import AbstractContextManager
from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from .._auth import BearerAuth
from .._dispatch import Dispatcher
from .._events import Event
from ..adapters import DEFAULT_PATH, asgi, wsgi
from ..testing import SAMPLE_BODIES, auth_headers
from ..testing._sender import Answer
from ._common import database_url, open_store, quiet_library_log, stdout
from ._describe import handler_view
from ._http import post, serving_asgi, serving_wsgi

_SERVERS = {"wsgi": "the WSGI app under wsgiref", "asgi": "the ASGI app under uvicorn"}
_TIMEOUT = 10.0
_FORGED_BODY = b'{"event": "Finished Journey", "body": {"journeyId": "forged"}}'


@click.command(short_help="Every webhook type, and a retry of each, through a real receiver.")
@click.option(
    "--db",
    metavar="FILE",
    help="Keep the SQLite store in FILE, so that a second run finds every event already"
    " processed. Default: a temporary file, deleted afterwards.",
)
@click.option(
    "--server",
    type=click.Choice(sorted(_SERVERS)),
    default="wsgi",
    show_default=True,
    help="Serve the standalone WSGI app (wsgiref) or ASGI app (uvicorn).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The receiver's loopback port; 0 picks a free one.",
)
def demo(db: str | None, server: str, port: int) -> int:
    """Receive a sample of every IDWise webhook type, a retry of each and a forged request.

    The receiver (Dispatcher, Bearer Token verifier, SqlStore on SQLite) runs in this process
    behind a real HTTP server on a loopback port; each delivery is a real POST with the
    headers IDWise sends. Each event's handler runs once: retries are acknowledged as duplicates,
    and the forged request is refused with 401.
    """
    if db is not None and (not db.strip() or "://" in db):  # never echoed: it may hold a password
        raise click.BadParameter("takes the path of a SQLite file", param_hint="'--db'")
    quiet_library_log()
    with tempfile.TemporaryDirectory(prefix="idwise-events-demo-") as folder:
        path = Path(db) if db else Path(folder) / "idwise-events.db"
        return _run(path, kept=db is not None, server=server, port=port)


def _run(path: Path, *, kept: bool, server: str, port: int) -> int:
    verifier = BearerAuth(secrets.token_urlsafe(24))  # IDWise's portal would hold this token
    store = open_store(database_url(str(path)))
    dispatcher = Dispatcher(verifier=verifier, store=store)
    seen: dict[str, list[str]] = {}  # eventId -> what the handler got, as it got it

    @dispatcher.on_any
    def record(event: Event) -> None:
        seen[event.idempotency_key] = handler_view(event)  # your business logic goes here

    serving: AbstractContextManager[str] = (
        serving_wsgi(wsgi.app(dispatcher), port)
        if server == "wsgi"
        else serving_asgi(asgi.app(dispatcher), port)
    )
    headers = {"Content-Type": "application/json", **auth_headers(verifier)}
    rows: list[tuple[str, Answer, Answer, list[str]]] = []
    try:
        with serving as base_url:
            url = base_url + DEFAULT_PATH
            out = stdout()
            out.print("IDWise webhooks, delivered over HTTP to a receiver running in this process")
            out.print(f"  receiver  {url} ({_SERVERS[server]})")
            out.print("  auth      Bearer Token (a random one for this run)")
            out.print(f"  store     SqlStore on SQLite, {path}{'' if kept else ' (temporary)'}")
            for model, body in SAMPLE_BODIES.items():
                name = model.event_type.value
                # A stable eventId per type, so that a second run over --db finds the first's.
                event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
                raw = json.dumps({"event": name, "body": {"eventId": event_id, **body}}).encode()
                first = post(url, raw, headers, timeout=_TIMEOUT)
                retry = post(url, raw, headers, timeout=_TIMEOUT)
                rows.append((name, first, retry, seen.pop(event_id, [])))
            guessed = {**headers, "Authorization": "Bearer guessed-token"}
            forged = post(url, _FORGED_BODY, guessed, timeout=_TIMEOUT)
    finally:
        store.close()
    return _report(rows, forged, kept=kept, path=path)


def _report(
    rows: list[tuple[str, Answer, Answer, list[str]]], forged: Answer, *, kept: bool, path: Path
) -> int:
    """Print the table and the summary; 0 if every delivery was answered as it should be."""
    # On a narrow terminal long type names wrap, statuses never do, and attributes fold.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("Event type", max_width=20)
    table.add_column("First", no_wrap=True)
    table.add_column("Retry", no_wrap=True)
    table.add_column("What the handler saw", overflow="fold")
    expected = True
    processed = earlier = duplicates = 0
    for name, first, retry, view in rows:
        first_outcome, retry_outcome = _outcome(first), _outcome(retry)
        processed += first_outcome == "processed"
        earlier += first_outcome == "duplicate"
        duplicates += retry_outcome == "duplicate"
        expected &= (
            first.status == 200
            and retry_outcome == "duplicate"
            and (first_outcome == "processed") == bool(view)
        )
        if not view:
            view = [
                "nothing: processed in an earlier run"
                if first_outcome == "duplicate"
                else "nothing"
            ]
        table.add_row(name, _cell(first), _cell(retry), "\n".join(view))
    table.add_row("forged request", _cell(forged), "", "nothing")
    expected &= forged.status == 401
    out = stdout()
    out.print(table)
    runs = [f"{processed} processed, handler run once each"] if processed else []
    if earlier:  # a --db kept from an earlier run
        runs.append(f"{earlier} processed in an earlier run, handler not run again")
    out.print(
        f"{len(rows)} event types: {'; '.join(runs)}; {duplicates} retries acknowledged as"
        f" duplicates; forged request answered {forged.status}."
    )
    if kept:
        out.print(f"The store {path} remembers them: run again and every delivery is a duplicate.")
    if not expected:
        out.print(Text("Some deliveries were not answered as expected.", style="bold red"))
        return 1
    return 0


def _outcome(answer: Answer) -> str:
    try:
        outcome = json.loads(answer.body).get("outcome")
    except (ValueError, AttributeError):
        return "?"
    return str(outcome)


def _cell(answer: Answer) -> Text:
    style = "green" if answer.status == 200 else "red"
    return Text(f"{answer.status} {_outcome(answer)}", style=style)
