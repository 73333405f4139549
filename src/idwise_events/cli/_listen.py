"""``idwise-events listen``: a local receiver, built on the library, that shows every delivery."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from .._auth import NoAuth
from .._dispatch import Dispatcher
from .._errors import PayloadError
from .._parse import parse_event
from .._request import WebhookRequest, WebhookResponse
from ..adapters import wsgi
from ._common import (
    LISTEN_DB,
    auth_options,
    database_url,
    open_store,
    quiet_library_log,
    shown_url,
    stderr,
    stdout,
    verifier_from_flags,
)
from ._describe import Description, describe
from ._http import wsgi_server
from ._terminal import MESSAGE_LIMIT, printable

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The outcomes of deliveries that were verified and parsed, so whose event can be shown.
_PARSED = {"processed", "duplicate", "in_progress", "handler_failed", "store_unavailable"}
_NOT_FOUND = WebhookResponse(404, b'{"outcome": "not_found"}', {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Delivery:
    """One request the receiver answered, as `listen` shows it."""

    time: datetime
    method: str
    path: str
    client_ip: str | None
    status: int
    outcome: str
    detail: str | None = None
    event: Description | None = None


@click.command(short_help="A local receiver that prints each delivery.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="The port to listen on (0: any free port).",
)
@click.option("--path", default="/", show_default=True, help="The URL path that receives webhooks.")
@auth_options
@click.option(
    "--db",
    default=LISTEN_DB,
    show_default=True,
    metavar="FILE|URL",
    help="The idempotency store: a SQLite file (listen's own by default, apart from the"
    " idwise-events.db an app may keep), or any SQLAlchemy database URL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per delivery.")
def listen(
    host: str,
    port: int,
    path: str,
    basic: str | None,
    bearer: str | None,
    headers: tuple[str, ...],
    db: str,
    as_json: bool,
) -> int:
    """Receive webhooks locally, answering as the library does, and print each delivery.

    Each delivery goes through a Dispatcher (the verifier the flags or the IDWISE_WEBHOOK_*
    variables describe, and a SqlStore) and is printed as one line: the time, the status
    answered, the event type, its ids, decisions and other fields, the fields this version does
    not know, and whether it was a duplicate. Without any authentication configured every request
    is accepted. Ctrl-C stops it.
    """
    if not path.startswith("/"):
        raise click.UsageError("--path must start with '/'")
    if "?" in path or "#" in path:  # the path is matched without the query
        raise click.UsageError("--path is a path alone: no '?' query or '#' fragment")
    quiet_library_log()
    verifier, auth = verifier_from_flags(basic, bearer, headers)
    store = open_store(database_url(db))
    try:
        dispatcher = Dispatcher(verifier=verifier or _no_auth(), store=store)
        printer = _Printer(as_json=as_json, path=path)
        server = wsgi_server(_receiver(dispatcher, path, printer.show), host, port)
        shown_host = f"[{host}]" if ":" in host else host
        # `kill` (SIGTERM) stops it as cleanly as Ctrl-C does. Ctrl-C itself too, even when
        # started from a shell that ignores SIGINT for background jobs (Python then keeps it
        # ignored, and so would this process). Both before the banner says it is listening.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            stderr().print(
                f"Listening for IDWise webhooks on http://{shown_host}:{server.server_port}{path}"
                f" ({auth}; store {shown_url(store)}). Ctrl-C to stop."
            )
            if verifier is None:
                stderr().print(
                    "warning: without --bearer, --basic, --header or IDWISE_WEBHOOK_* variables,"
                    " every request is accepted: anyone who can reach this port can post events."
                )
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        store.close()
    stderr().print("Stopped.")
    return 0


def _no_auth() -> NoAuth:
    """`NoAuth`, without the warning it logs: listen words its own, fit for a local receiver."""
    logger = logging.getLogger("idwise_events")
    logger.disabled = True
    try:
        return NoAuth()
    finally:
        logger.disabled = False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _receiver(
    dispatcher: Dispatcher, path: str, show: Callable[[Delivery], None]
) -> WSGIApplication:
    """The WSGI app: the library's WSGI adapter steps, plus showing each delivery."""

    def receive(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        method = str(environ.get("REQUEST_METHOD", ""))
        where = str(environ.get("PATH_INFO") or "/")
        request: WebhookRequest | None = None
        if where != path:
            response = _NOT_FOUND
        else:
            early = dispatcher.early_response(
                method,
                environ.get("CONTENT_LENGTH") or None,
                environ.get("REMOTE_ADDR"),
                headers=wsgi._header_pairs(environ),
            )
            if early is None:
                request = wsgi.to_webhook_request(environ, max_bytes=dispatcher.max_body_bytes)
                early = dispatcher.handle(request)
            response = early
        # Shown before the answer leaves, so a sender that has its answer finds the line printed.
        show(_delivery(method, where, environ.get("REMOTE_ADDR"), request, response))
        status, response_headers, body = wsgi.to_response(response)
        start_response(status, response_headers)
        return [body]

    return receive


def _delivery(
    method: str,
    path: str,
    client_ip: str | None,
    request: WebhookRequest | None,
    response: WebhookResponse,
) -> Delivery:
    try:
        answer: dict[str, Any] = json.loads(response.body)
    except ValueError:  # a status of your own with a body of your own
        answer = {}
    outcome = str(answer.get("outcome", "?"))
    event = None
    if request is not None and outcome in _PARSED:
        try:
            event = describe(parse_event(request.body))
        except PayloadError:  # the dispatcher parsed it, with the same limit: cannot happen
            event = None
    detail = answer.get("detail")
    return Delivery(
        time=datetime.now(timezone.utc).astimezone(),
        method=method,
        path=path,
        client_ip=client_ip,
        status=response.status,
        outcome=outcome,
        detail=str(detail) if detail is not None else None,
        event=event,
    )


class _Printer:
    """Prints deliveries, one line each, as text or JSON; several server threads may call it."""

    def __init__(self, *, as_json: bool, path: str) -> None:
        self.as_json = as_json
        self.path = path
        self.console = stdout()
        self.lock = threading.Lock()

    def show(self, delivery: Delivery) -> None:
        with self.lock:
            if self.as_json:
                self.console.out(json.dumps(self.record(delivery)), highlight=False)
            else:
                self.console.print(self.line(delivery))
            self.console.file.flush()

    def record(self, delivery: Delivery) -> dict[str, Any]:
        event = delivery.event.as_json() if delivery.event is not None else {}
        return {
            "time": delivery.time.isoformat(timespec="milliseconds"),
            "status": delivery.status,
            "outcome": delivery.outcome,
            "duplicate": delivery.outcome == "duplicate",
            "method": delivery.method,
            "path": delivery.path,
            "client_ip": delivery.client_ip,
            "event": event.get("event"),
            "known_event": event.get("known_event"),
            "event_id": event.get("event_id"),
            "fields": event.get("fields"),
            "unknown_fields": event.get("unknown_fields", []),
            "detail": delivery.detail,
        }

    def line(self, delivery: Delivery) -> Text:
        status_style = "green" if delivery.status == 200 else "red"
        outcome_style = "yellow" if delivery.outcome == "duplicate" else status_style
        line = Text.assemble(
            (delivery.time.strftime("%H:%M:%S"), "dim"),
            " ",
            (str(delivery.status), f"bold {status_style}"),
            " ",
            (f"{delivery.outcome:<11}", outcome_style),
            " ",
        )
        event = delivery.event
        if event is not None and event.known:
            line.append(event.name_text(), style="bold")
            line.append(f" {event.field_text()}")
            if event.unknown_fields:
                line.append(f"  unknown fields: {event.unknown_text()}", style="yellow")
        elif event is not None:
            line.append(f"unknown event name {printable(repr(event.event))}", style="bold yellow")
            line.append(f" {event.field_text()}".rstrip())
        else:
            line.append(self.reason(delivery))
        return line

    def reason(self, delivery: Delivery) -> str:
        """Why a delivery whose event is not shown was answered as it was.

        The method, the path and the detail (which may quote the body) are the sender's: escaped.
        """
        method, path = printable(delivery.method), printable(delivery.path)
        if delivery.outcome == "not_found":
            return f"{method} {path}: nothing here (webhooks go to {printable(self.path)})"
        if delivery.outcome == "unauthorized":
            return f"from {printable(delivery.client_ip)}: credentials missing or wrong"
        if delivery.outcome == "method_not_allowed":
            return f"{method} instead of POST"
        if delivery.outcome == "too_large":
            return "body over the size limit"
        return printable(delivery.detail or "", limit=MESSAGE_LIMIT)
