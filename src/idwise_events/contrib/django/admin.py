"""A read-only admin of the events received: what came, when, and what became of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.http import HttpRequest

from .models import ReceivedEvent

__all__ = ["ReceivedEventAdmin"]

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
else:
    _ModelAdmin = admin.ModelAdmin

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
