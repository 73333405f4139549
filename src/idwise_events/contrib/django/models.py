"""The rows the app keeps: `ReceivedEvent` for `DjangoStore`, `InboxDelivery` for `DjangoInbox`."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.db import models

from ..._inbox import MAX_LABEL_LENGTH, DeliveryState
from ...stores._keys import FINGERPRINT_LENGTH, MAX_KEY_LENGTH

__all__ = ["InboxDelivery", "ReceivedEvent"]


class ReceivedEvent(models.Model):
    """An IDWise event received by this project: its idempotency key, what it is, its state.

    [`DjangoStore`][idwise_events.contrib.django.store.DjangoStore] writes these rows; retries of
    the same event update the row of its first delivery. Read them (the admin lists them), but
    leave writing to the store: a row is how the store knows an event is being or was processed.
    """

    IN_PROGRESS = "in_progress"
    """A worker holds the event until ``lease_expires_at`` (or crashed: a retry then takes over)."""
    COMPLETED = "completed"
    """Every handler returned: later deliveries are acknowledged without running them."""
    STATUSES = ((IN_PROGRESS, "in progress"), (COMPLETED, "completed"))

    key: models.CharField[str, str] = models.CharField(
        "idempotency key",
        max_length=MAX_KEY_LENGTH,
        primary_key=True,
        help_text="The eventId, or sha256: and a digest (legacy payloads, unusual ids).",
    )
    status: models.CharField[str, str] = models.CharField(max_length=11, choices=STATUSES)
    token: models.CharField[str, str] = models.CharField(
        max_length=32, help_text="The fencing token of the worker that holds or held the event."
    )
    fingerprint: models.CharField[str, str] = models.CharField(
        max_length=FINGERPRINT_LENGTH, help_text="SHA-256 of the body first claimed."
    )
    fingerprint_mismatch: models.BooleanField[bool, bool] = models.BooleanField(
        default=False, help_text="The same key was delivered again with a different body."
    )
    event_type: models.CharField[str, str] = models.CharField(
        max_length=100, blank=True, help_text="The event's name, such as Finished Journey."
    )
    journey_id: models.CharField[str, str] = models.CharField(
        max_length=100, blank=True, help_text="The journey the event is about, if it names one."
    )
    received_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        help_text="When the event was first claimed."
    )
    lease_expires_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        help_text="Until when the current claim keeps the event from other workers."
    )
    completed_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )

    class Meta:
        """Newest first is how the admin lists them: an index keeps that cheap."""

        verbose_name = "received event"
        indexes: ClassVar[tuple[models.Index, ...]] = (
            models.Index(fields=["-received_at"], name="idwise_events_received"),
        )

    def __str__(self) -> str:
        return f"{self.event_type or 'IDWise event'} {self.key}"


class InboxDelivery(models.Model):
    """A delivery accepted into the inbox: its raw body, its state, its attempts (the delivery log).

    [`DjangoInbox`][idwise_events.contrib.django.inbox.DjangoInbox] writes these rows when
    ``IDWISE_EVENTS["INBOX"]`` is on, and workers take, retry, bury and complete them. Read them
    (the admin lists them, and replays done or dead ones), but leave writing to the inbox.
    """

    STATES = tuple((state.value, state.value) for state in DeliveryState)

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    key: models.CharField[str, str] = models.CharField(
        "idempotency key",
        max_length=MAX_KEY_LENGTH,
        unique=True,
        help_text="The eventId, or sha256: and a digest (legacy payloads, unusual ids).",
    )
    event_type: models.CharField[str, str] = models.CharField(
        max_length=MAX_LABEL_LENGTH, help_text="The event's name, such as Finished Journey."
    )
    event_id: models.CharField[str | None, str | None] = models.CharField(
        "event id", max_length=MAX_LABEL_LENGTH, null=True, blank=True
    )
    fingerprint: models.CharField[str, str] = models.CharField(
        max_length=FINGERPRINT_LENGTH, help_text="SHA-256 of the body."
    )
    body: models.BinaryField[bytes, bytes] = models.BinaryField(
        help_text="The raw body as received."
    )
    received_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    state: models.CharField[str, str] = models.CharField(max_length=10, choices=STATES)
    attempts: models.IntegerField[int, int] = models.IntegerField(
        help_text="Times a worker took it since it was accepted or last replayed."
    )
    next_attempt_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    lease_expires_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    token: models.CharField[str | None, str | None] = models.CharField(
        max_length=32, null=True, blank=True, help_text="The fencing token of its holder."
    )
    last_error: models.TextField[str | None, str | None] = models.TextField(
        null=True, blank=True, help_text="The last failure's type and message."
    )
    finished_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    replays: models.IntegerField[int, int] = models.IntegerField(
        default=0, help_text="Times it was replayed on purpose."
    )

    class Meta:
        """The workers' and the sweep's scan, the purge's, and the admin's date filter."""

        verbose_name = "inbox delivery"
        verbose_name_plural = "inbox deliveries"
        indexes: ClassVar[tuple[models.Index, ...]] = (
            models.Index(fields=["state", "next_attempt_at"], name="idwise_inboxdelivery_due"),
            models.Index(fields=["state", "finished_at"], name="idwise_inboxdelivery_finished"),
            models.Index(fields=["received_at"], name="idwise_inboxdelivery_received"),
            models.Index(fields=["event_id"], name="idwise_inboxdelivery_event_id"),
        )

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id or self.key} ({self.state})"
