"""``manage.py idwise_events_send``: post a sample event to this project's own endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, get_args

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from idwise_events._events import KnownEvent
from idwise_events.testing import auth_headers, make_event

from ..._settings import SETTING, load_config

__all__ = ["Command"]

_MODELS: dict[str, type[Any]] = {
    model.event_type.value: model for model in get_args(get_args(KnownEvent)[0])
}
_DEFAULT_BASE = "http://127.0.0.1:8000"


class Command(BaseCommand):
    """Send one sample IDWise event, with the credentials of ``IDWISE_EVENTS``, and show the answer.

    A check that the endpoint is routed, that the credentials agree, and that the handlers run:
    the event is a real one (a fresh ``eventId``), processed like any other.
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
                " idwise_events:webhook URL, as runserver serves it)."
            ),
        )
        parser.add_argument(
            "--event",
            default="Finished Journey",
            choices=sorted(_MODELS),
            help="The event type (default: Finished Journey).",
        )
        parser.add_argument("--journey-id", help="The journeyId to put in the event.")
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="Seconds to wait for the answer."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Build the event and the headers, post them, print the answer."""
        config = load_config()
        if config.verifier is None:
            raise CommandError(
                f"{SETTING} has no usable authentication: run manage.py check to see why"
            )
        try:
            headers = auth_headers(config.verifier)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"cannot build the credentials' headers: {exc}") from exc
        url = options["url"] or _DEFAULT_BASE + _webhook_path()
        fields = {"journey_id": options["journey_id"]} if options["journey_id"] else {}
        event = make_event(_MODELS[options["event"]], **fields)
        body = event.model_dump_json(by_alias=True).encode()
        request = urllib.request.Request(  # noqa: S310 -- the URL is the operator's own
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:  # noqa: S310 -- as above
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as refused:
            status, answer = refused.code, refused.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(f"could not reach {url}: {reason}") from exc
        self.stdout.write(f"sent {event.event} {event.event_id} to {url}")
        self.stdout.write(f"{status} {answer.decode('utf-8', 'replace')}")
        if status != 200:
            raise CommandError(f"the endpoint answered {status}{_hint(status, answer)}")


def _webhook_path() -> str:
    try:
        return reverse("idwise_events:webhook")
    except NoReverseMatch as exc:
        raise CommandError(
            'include("idwise_events.contrib.django.urls") in your URLconf, or pass --url'
        ) from exc


def _hint(status: int, answer: bytes) -> str:
    try:
        outcome = json.loads(answer).get("outcome")
    except (ValueError, AttributeError):
        outcome = None
    if outcome == "unauthorized":
        return f": the server refused the credentials of {SETTING} (does it run with the same?)"
    if outcome is None:
        return ": that is not an idwise_events endpoint (is --url right?)"
    return f" ({outcome})"
