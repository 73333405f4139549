"""A read-only admin of the events received: what came, when, and what became of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ReceivedEvent

__all__ = ["ReceivedEventAdmin"]

if TYPE_CHECKING:  # generic in django-stubs only
    _ModelAdmin = admin.ModelAdmin[ReceivedEvent]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(ReceivedEvent)
class ReceivedEventAdmin(_ModelAdmin):
    """The received events, newest first, filterable and searchable; nothing can be changed.

    Rows belong to the idempotency store: adding or editing one could make an event run twice
    or never, so the admin only shows them, to staff with the ``view_receivedevent``
    permission. The fencing token is not shown (no credential ever reaches this table).
    """

    list_display = (
        "key",
        "event_type",
        "journey_id",
        "status",
        "received_at",
        "completed_at",
        "lease_expires_at",
        "fingerprint_mismatch",
    )
    list_filter = ("status", "event_type", "fingerprint_mismatch", "received_at")
    search_fields = ("key", "journey_id", "event_type")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)
    fields = (
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
    readonly_fields = fields
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Events arrive from IDWise only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The store alone writes its rows."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Deleting a row would let a retry run its event again; `purge` forgets old ones."""
        return False
