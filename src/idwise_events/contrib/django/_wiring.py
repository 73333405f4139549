"""The project's dispatcher, built from the settings on first use, with the app's first handler."""

from __future__ import annotations

import functools
import threading

from asgiref.sync import sync_to_async
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured

from ..._auth import Verifier
from ..._dispatch import Dispatcher
from ..._events import Event
from ..._request import WebhookRequest
from . import signals
from ._settings import SETTING, Config, project_config
from .inbox import DjangoInbox
from .store import DjangoStore

__all__ = ["build_dispatcher", "project_dispatcher"]

_building = threading.Lock()


def project_dispatcher() -> Dispatcher:
    """The project's dispatcher: one for the process, built on first use.

    Its verifier reads ``IDWISE_EVENTS`` as it is at each delivery (the configuration is read
    again after ``override_settings``), so the handlers registered on it stay while tests change
    the credentials.
    """
    with _building:  # two threads' first requests must not build two dispatchers
        return _project_dispatcher()


@functools.cache
def _project_dispatcher() -> Dispatcher:
    return build_dispatcher(project_config(), verifier=_SettingsVerifier())


def build_dispatcher(config: Config, *, verifier: Verifier | None = None) -> Dispatcher:
    """A dispatcher on a `DjangoStore` (and a `DjangoInbox` if asked), configured by ``config``.

    Its first handler notes each event's type on its row and sends the signals. With the inbox,
    handlers (the signals included) run when a worker processes the delivery, and the delivery's
    row is the record of it. With invalid settings it refuses every delivery with
    `ImproperlyConfigured` (so a 500, with the reason in the error log): the system checks
    report the same problems at startup.

    Args:
        config: The settings read.
        verifier: Instead of ``config``'s verifier (the project's reads the settings each time).
    """
    store = DjangoStore(retention=config.retention)
    inbox = DjangoInbox() if config.inbox else None
    if verifier is None:
        verifier = _configured_verifier(config)
    dispatcher = Dispatcher(
        verifier=verifier,
        store=store,
        inbox=inbox,
        lease=config.lease,
        max_body_bytes=config.max_body_bytes,
        statuses=config.statuses,
        # Plain handlers and the store then use the database connections Django manages (and
        # closes) under ASGI, as Django's own async ORM methods do.
        run_sync=sync_to_async,
    )

    @dispatcher.on_any
    def record_and_signal(event: Event) -> None:
        if inbox is None:  # with the inbox, no ReceivedEvent row: the delivery's row records it
            store.record_event(event)
        signals.event_received.send(sender=type(event), event=event)
        signals.SIGNALS[type(event)].send(sender=type(event), event=event)

    return dispatcher


def _configured_verifier(config: Config) -> Verifier:
    errors = config.errors
    if config.verifier is None or errors:
        return _Misconfigured(errors)
    return config.verifier


class _SettingsVerifier:
    """The verifier of ``IDWISE_EVENTS`` as the settings are now (read again when they change)."""

    def __repr__(self) -> str:
        return f"<{SETTING}: {_configured_verifier(project_config())!r}>"

    def verify(self, request: WebhookRequest) -> None:
        """Verify with the settings' verifier; invalid settings raise `ImproperlyConfigured`."""
        _configured_verifier(project_config()).verify(request)

    def _current_verifier(self) -> Verifier:
        """The settings' verifier now (the dispatcher asks whether it reads only headers)."""
        return _configured_verifier(project_config())


class _Misconfigured:
    """The verifier of a project whose settings are invalid: it refuses to judge anything."""

    def __init__(self, errors: list[CheckMessage]) -> None:
        self._message = f"{SETTING} is invalid: " + "; ".join(error.msg for error in errors)

    def __repr__(self) -> str:
        return "<invalid IDWISE_EVENTS settings>"

    def verify(self, request: WebhookRequest) -> None:
        """Raise `ImproperlyConfigured`, saying what is wrong (never a secret)."""
        raise ImproperlyConfigured(self._message)
