"""Read-only admins of the events received and of the inbox's deliveries (which may be replayed)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .inbox import DjangoInbox
from .models import InboxDelivery, ReceivedEvent

__all__ = ["InboxDeliveryAdmin", "ReceivedEventAdmin"]

if TYPE_CHECKING:  # generic in django-stubs only; the attributes below take its exact types
    from django.contrib.admin.options import (
        _ActionCallable,
        _FieldGroups,
        _ListDisplayT,
        _ListFilterT,
    )
    from django.db.models.query import _OrderByFieldName
    from django.utils.datastructures import _ListOrTuple

    _ModelAdmin = admin.ModelAdmin[ReceivedEvent]
    _DeliveryAdmin = admin.ModelAdmin[InboxDelivery]
else:
    _ModelAdmin = _DeliveryAdmin = admin.ModelAdmin

_SHOWN = (
    "key",
    "event_type",
    "journey_id",
    "status",
    "received_at",
    "lease_expires_at",
    "completed_at",
    "fingerprint",
    "fingerprint_mismatch",
)
"""Every column but the fencing token, all read-only."""


@admin.register(ReceivedEvent)
class ReceivedEventAdmin(_ModelAdmin):
    """The received events, newest first, filterable and searchable; nothing can be changed.

    Rows belong to the idempotency store: adding or editing one could make an event run twice
    or never, so the admin only shows them, to staff with the ``view_receivedevent``
    permission. The fencing token is not shown (no credential ever reaches this table).
    """

    list_display: _ListDisplayT[ReceivedEvent] = (
        "key",
        "event_type",
        "journey_id",
        "status",
        "received_at",
        "completed_at",
        "lease_expires",
        "fingerprint_mismatch",
    )
    list_filter: ClassVar[_ListOrTuple[_ListFilterT]] = (
        "status",
        "event_type",
        "fingerprint_mismatch",
        "received_at",
    )
    search_fields: ClassVar[_ListOrTuple[str]] = ("key", "journey_id", "event_type")
    date_hierarchy: ClassVar[str | None] = "received_at"
    ordering: ClassVar[_ListOrTuple[_OrderByFieldName] | None] = ("-received_at",)
    fields: ClassVar[_FieldGroups | None] = _SHOWN
    readonly_fields: ClassVar[_ListOrTuple[str]] = _SHOWN
    actions: Sequence[_ActionCallable[Any, ReceivedEvent] | str] | None = None

    @admin.display(description="lease expires at", ordering="lease_expires_at")
    def lease_expires(self, obj: ReceivedEvent) -> datetime | None:
        """The lease of an event in progress; a completed event has none that matters."""
        return obj.lease_expires_at if obj.status == ReceivedEvent.IN_PROGRESS else None

    def get_fields(self, request: HttpRequest, obj: ReceivedEvent | None = None) -> _FieldGroups:
        """The columns of the row; the lease only while the event is in progress."""
        if obj is not None and obj.status != ReceivedEvent.IN_PROGRESS:
            return tuple(name for name in _SHOWN if name != "lease_expires_at")
        return _SHOWN

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Events arrive from IDWise only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The store alone writes its rows."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Deleting a row would let a retry run its event again; `purge` forgets old ones."""
        return False


_DELIVERY_SHOWN = (
    "id",
    "event_type",
    "event_id",
    "key",
    "state",
    "received_at",
    "attempts",
    "next_attempt_at",
    "lease_expires_at",
    "last_error",
    "finished_at",
    "replays",
    "fingerprint",
    "payload",
)
"""Every column but the fencing token, the body pretty-printed; all read-only."""


@admin.register(InboxDelivery)
class InboxDeliveryAdmin(_DeliveryAdmin):
    """The delivery log: each delivery the inbox accepted, its payload, attempts and last error.

    Rows belong to the inbox (a worker may be processing one): nothing can be added, edited or
    deleted here, by anyone. Staff with the ``view_inboxdelivery`` permission read them; those
    with ``change_inboxdelivery`` may also *replay* done and dead deliveries (the action calls
    [`DjangoInbox.replay`][idwise_events.contrib.django.inbox.DjangoInbox.replay]): their
    handlers run again, on purpose, and the replay is logged.
    """

    list_display: _ListDisplayT[InboxDelivery] = (
        "id",
        "event_type",
        "event_id",
        "state",
        "attempts",
        "replays",
        "received_at",
        "finished_at",
        "last_error",
    )
    list_filter: ClassVar[_ListOrTuple[_ListFilterT]] = ("state", "event_type", "received_at")
    # Exact matches, on indexed columns: an event id is searched whole.
    search_fields: ClassVar[_ListOrTuple[str]] = ("=event_id", "=key")
    date_hierarchy: ClassVar[str | None] = "received_at"
    ordering: ClassVar[_ListOrTuple[_OrderByFieldName] | None] = ("-id",)
    fields: ClassVar[_FieldGroups | None] = _DELIVERY_SHOWN
    readonly_fields: ClassVar[_ListOrTuple[str]] = _DELIVERY_SHOWN
    actions: Sequence[_ActionCallable[Any, InboxDelivery] | str] | None = ("replay",)

    @admin.display(description="payload")
    def payload(self, obj: InboxDelivery) -> SafeString:
        """The body as received, pretty-printed if it is JSON, escaped."""
        body = bytes(obj.body)
        try:
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:  # never parsed: shown as it came
            text = body.decode("utf-8", "replace")
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.action(permissions=["replay"], description="Replay the selected done or dead deliveries")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboxDelivery]) -> None:
        """Make each selected done or dead delivery pending again; say how many.

        With the inbox on, through the project's dispatcher: its ``on_accepted`` hooks (Celery's
        or the PostgreSQL queue's enqueue, the embedded worker's wake-up) get each replayed
        delivery at once, rather than at the next sweep.
        """
        from ._wiring import project_dispatcher

        dispatcher = project_dispatcher()
        replay = (
            DjangoInbox(using=queryset.db).replay if dispatcher.inbox is None else dispatcher.replay
        )
        selected = list(queryset.values_list("id", flat=True))
        with _hook_failures() as failed:  # a hook that raised is logged, not raised
            replayed = sum(replay(delivery_id) for delivery_id in selected)
        if replayed:
            self.message_user(
                request,
                f"Replayed {replayed} of the {len(selected)} selected deliveries: their handlers"
                " run again when a worker takes them.",
                messages.SUCCESS,
            )
        if failed.delivery_ids:
            self.message_user(
                request,
                f"The queue could not be given {len(failed.delivery_ids)} of them (an"
                " on_accepted hook raised: see the log). They are pending all the same, and the"
                " queue's next sweep enqueues them.",
                messages.WARNING,
            )
        left = len(selected) - replayed
        if left:
            which = (
                f"{left} of them {'was' if left == 1 else 'were'} not replayed"
                if replayed
                else f"None of the {len(selected)} selected deliveries was replayed"
            )
            self.message_user(
                request,
                f"{which}: only done and dead ones can be (the others are waiting for or held"
                " by a worker).",
                messages.WARNING,
            )

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Replaying needs the model's change permission (which edits nothing here)."""
        return super().has_change_permission(request)  # Django's check, not this class's

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Deliveries arrive from IDWise only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The inbox alone writes its rows (saving a form could undo a worker's update)."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The inbox's ``purge`` forgets old deliveries; deleting one here could lose an event."""
        return False


class _HookFailures(logging.Handler):
    """The replayed deliveries an ``on_accepted`` hook raised for, in this thread."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.delivery_ids: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        delivery_id = getattr(record, "replayed_delivery_id", None)
        if delivery_id is not None and record.thread == self.thread:
            self.delivery_ids.add(delivery_id)


@contextmanager
def _hook_failures() -> Iterator[_HookFailures]:
    """Collect the replay hook failures logged while the block runs (they still reach the log).

    Inside a transaction (``ATOMIC_REQUESTS``) the hooks run once it commits, after the block:
    a failure is then in the log only.
    """
    handler = _HookFailures()
    logger = logging.getLogger("idwise_events")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
