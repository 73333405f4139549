"""The project's dispatcher, built from the settings, with the app's own first handler."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured

from ..._dispatch import Dispatcher
from ..._events import Event
from ..._request import WebhookRequest
from . import signals
from ._settings import SETTING, Config
from .store import DjangoStore

__all__ = ["build_dispatcher"]


def build_dispatcher(config: Config) -> Dispatcher:
    """A dispatcher on a `DjangoStore`, configured by ``config``.

    Its first handler notes each event's type on its row and sends the signals. With invalid
    settings it refuses every delivery with `ImproperlyConfigured` (so a 500, with the reason in
    the error log): the system checks report the same problems at startup.
    """
    store = DjangoStore(retention=config.retention)
    errors = config.errors
    dispatcher = Dispatcher(
        verifier=config.verifier if config.verifier and not errors else _Misconfigured(errors),
        store=store,
        lease=config.lease,
        max_body_bytes=config.max_body_bytes,
        statuses=config.statuses,
        # Plain handlers and the store then use the database connections Django manages (and
        # closes) under ASGI, as Django's own async ORM methods do.
        run_sync=sync_to_async,
    )

    @dispatcher.on_any
    def record_and_signal(event: Event) -> None:
        store.record_event(event)
        signals.event_received.send(sender=type(event), event=event)
        signals.SIGNALS[type(event)].send(sender=type(event), event=event)

    return dispatcher


class _Misconfigured:
    """The verifier of a project whose settings are invalid: it refuses to judge anything."""

    def __init__(self, errors: list[CheckMessage]) -> None:
        self._message = f"{SETTING} is invalid: " + "; ".join(error.msg for error in errors)

    def __repr__(self) -> str:
        return "<invalid IDWISE_EVENTS settings>"

    def verify(self, request: WebhookRequest) -> None:
        """Raise `ImproperlyConfigured`, saying what is wrong (never a secret)."""
        raise ImproperlyConfigured(self._message)
