"""``manage.py idwise_events_send``: post a sample event to this project's own endpoint."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from idwise_events.cli._terminal import MESSAGE_LIMIT, printable
from idwise_events.testing import auth_headers, make_event
from idwise_events.testing._samples import event_model, known_types
from idwise_events.testing._sender import (
    Answer,
    NoAnswerError,
    basic_authorization,
    post,
    split_url,
)

from ..._settings import SETTING, load_config

__all__ = ["Command"]

_DEFAULT_BASE = "http://127.0.0.1:8000"


_MAX_TIMEOUT = 3600.0


class Command(BaseCommand):
    """Send one sample IDWise event, with the credentials of ``IDWISE_EVENTS``, and show the answer.

    A check that the endpoint is routed, that the credentials agree, and that the handlers run:
    the event is a real one (a fresh ``eventId``), processed like any other. Like IDWise, it
    follows no redirect: a 3xx fails, naming where it pointed.
    """

    help = (
        "Send a sample IDWise event to this project's webhook endpoint with the credentials of"
        " IDWISE_EVENTS, and print the answer. Fails unless the endpoint answers 200."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--url``, ``--event``, ``--journey-id``, ``--timeout``."""
        parser.add_argument(
            "--url",
            help=(
                "Where to send it (default: http://127.0.0.1:8000 and the path of the"
                " idwise_events:webhook URL, as runserver serves it). Credentials in it"
                " (http://USER:PASS@host/) are sent as Basic Authentication, never printed."
            ),
        )
        parser.add_argument(
            "--event",
            default="Finished Journey",
            help=(
                "The event type, written as IDWise names it or any other way"
                " (finished-journey, FinishedJourney; default: Finished Journey)."
            ),
        )
        parser.add_argument("--journey-id", help="The journeyId to put in the event.")
        parser.add_argument(
            "--timeout",
            type=float,
            default=10.0,
            help=f"Seconds to wait for the answer (more than 0, at most {_MAX_TIMEOUT:g}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Build the event and the headers, post them, print the answer."""
        timeout = options["timeout"]
        if not (0 < timeout <= _MAX_TIMEOUT):  # False for NaN too
            raise CommandError(f"--timeout must be more than 0 and at most {_MAX_TIMEOUT:g}")
        config = load_config()
        if config.verifier is None:
            raise CommandError(
                f"{SETTING} has no usable authentication: run manage.py check to see why"
            )
        try:
            headers = auth_headers(config.verifier)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"cannot build the credentials' headers: {exc}") from exc
        url, in_url = _checked_url(options["url"] or _DEFAULT_BASE + _webhook_path())
        if in_url is not None:
            headers = _with_url_credentials(headers, in_url)
        fields = {"journey_id": options["journey_id"]} if options["journey_id"] else {}
        model = event_model(options["event"])
        if model is None:
            raise CommandError(
                f"--event {printable(options['event'])!r} is not an IDWise event type"
                f" ({known_types()})"
            )
        event = make_event(model, **fields)
        body = event.model_dump_json(by_alias=True).encode()
        sent = {"Content-Type": "application/json", **headers}
        try:
            answer = post(url, body, sent, timeout=timeout)
        except NoAnswerError as exc:
            raise CommandError(f"could not reach {url}: {exc}") from exc
        self.stdout.write(f"sent {event.event} {event.event_id} to {url}")
        self.stdout.write(f"{answer.status} {_shown_body(answer)}")
        if answer.status != 200:
            raise CommandError(f"the endpoint answered {answer.status}{_hint(answer)}")


def _checked_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its credentials, and those; `CommandError` unless it is usable."""
    try:
        return split_url(url)
    except ValueError as exc:
        raise CommandError(f"--url {printable(exc, limit=MESSAGE_LIMIT)}") from exc


def _with_url_credentials(headers: dict[str, str], credentials: tuple[str, str]) -> dict[str, str]:
    """``headers`` plus Basic Authentication with the URL's credentials, if nothing clashes."""
    if any(name.lower() == "authorization" for name in headers):
        raise CommandError(
            f"--url holds credentials and {SETTING} sets the Authorization header too: pick one"
        )
    return {**headers, "Authorization": basic_authorization(*credentials)}


def _webhook_path() -> str:
    try:
        return reverse("idwise_events:webhook")
    except NoReverseMatch as exc:
        raise CommandError(
            'include("idwise_events.contrib.django.urls") in your URLconf, or pass --url'
        ) from exc


def _shown_body(answer: Answer) -> str:
    """The answer's body on one line, escaped and capped: the server chose it."""
    return printable(answer.body.decode("utf-8", "replace"), limit=MESSAGE_LIMIT)


def _hint(answer: Answer) -> str:
    if answer.redirected:
        where = printable(answer.location) if answer.location else "nowhere (no Location header)"
        return f": redirected to {where}: IDWise does not follow redirects (is --url right?)"
    try:
        outcome = json.loads(answer.body).get("outcome")
    except (ValueError, AttributeError, RecursionError):
        outcome = None
    if outcome == "unauthorized":
        return f": the server refused the credentials of {SETTING} (does it run with the same?)"
    if outcome is None:
        return ": that is not an idwise_events endpoint (is --url right?)"
    return f" ({printable(outcome)})"
