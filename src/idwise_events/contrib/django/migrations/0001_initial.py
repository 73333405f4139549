"""The received events' table (written by makemigrations)."""

from collections.abc import Sequence
from typing import ClassVar

from django.db import migrations, models
from django.db.migrations.operations.base import Operation


class Migration(migrations.Migration):
    """Create the table."""

    initial: ClassVar[bool | None] = True

    dependencies: ClassVar[Sequence[tuple[str, str]]] = []

    operations: ClassVar[Sequence[Operation]] = [
        migrations.CreateModel(
            name="ReceivedEvent",
            fields=[
                (
                    "key",
                    models.CharField(
                        help_text="The eventId, or sha256: and a digest (legacy payloads, unusual ids).",
                        max_length=255,
                        primary_key=True,
                        serialize=False,
                        verbose_name="idempotency key",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("in_progress", "in progress"), ("completed", "completed")],
                        max_length=11,
                    ),
                ),
                (
                    "token",
                    models.CharField(
                        help_text="The fencing token of the worker that holds or held the event.",
                        max_length=32,
                    ),
                ),
                (
                    "fingerprint",
                    models.CharField(help_text="SHA-256 of the body first claimed.", max_length=64),
                ),
                (
                    "fingerprint_mismatch",
                    models.BooleanField(
                        default=False,
                        help_text="The same key was delivered again with a different body.",
                    ),
                ),
                (
                    "event_type",
                    models.CharField(
                        blank=True,
                        help_text="The event's name, such as Finished Journey.",
                        max_length=100,
                    ),
                ),
                (
                    "journey_id",
                    models.CharField(
                        blank=True,
                        help_text="The journey the event is about, if it names one.",
                        max_length=100,
                    ),
                ),
                (
                    "received_at",
                    models.DateTimeField(help_text="When the event was first claimed."),
                ),
                (
                    "lease_expires_at",
                    models.DateTimeField(
                        help_text="Until when the current claim keeps the event from other workers."
                    ),
                ),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "received event",
                "indexes": [models.Index(fields=["-received_at"], name="idwise_events_received")],
            },
        ),
    ]
