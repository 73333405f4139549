"""The inbox's table, the delivery log (written by makemigrations)."""

from collections.abc import Sequence
from typing import ClassVar

from django.db import migrations, models
from django.db.migrations.operations.base import Operation


class Migration(migrations.Migration):
    """Create the table."""

    dependencies: ClassVar[Sequence[tuple[str, str]]] = [
        ("idwise_events", "0001_initial"),
    ]

    operations: ClassVar[Sequence[Operation]] = [
        migrations.CreateModel(
            name="InboxDelivery",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "key",
                    models.CharField(
                        help_text="The eventId, or sha256: and a digest (legacy payloads, unusual ids).",
                        max_length=255,
                        unique=True,
                        verbose_name="idempotency key",
                    ),
                ),
                (
                    "event_type",
                    models.CharField(
                        help_text="The event's name, such as Finished Journey.", max_length=255
                    ),
                ),
                (
                    "event_id",
                    models.CharField(
                        blank=True, max_length=255, null=True, verbose_name="event id"
                    ),
                ),
                ("fingerprint", models.CharField(help_text="SHA-256 of the body.", max_length=64)),
                ("body", models.BinaryField(help_text="The raw body as received.")),
                ("received_at", models.DateTimeField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("processing", "processing"),
                            ("done", "done"),
                            ("dead", "dead"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "attempts",
                    models.IntegerField(
                        help_text="Times a worker took it since it was accepted or last replayed."
                    ),
                ),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("lease_expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "token",
                    models.CharField(
                        blank=True,
                        help_text="The fencing token of its holder.",
                        max_length=32,
                        null=True,
                    ),
                ),
                (
                    "last_error",
                    models.TextField(
                        blank=True, help_text="The last failure's type and message.", null=True
                    ),
                ),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "replays",
                    models.IntegerField(default=0, help_text="Times it was replayed on purpose."),
                ),
            ],
            options={
                "verbose_name": "inbox delivery",
                "verbose_name_plural": "inbox deliveries",
                "indexes": [
                    models.Index(
                        fields=["state", "next_attempt_at"], name="idwise_inboxdelivery_due"
                    ),
                    models.Index(
                        fields=["state", "finished_at"], name="idwise_inboxdelivery_finished"
                    ),
                    models.Index(fields=["received_at"], name="idwise_inboxdelivery_received"),
                    models.Index(fields=["event_id"], name="idwise_inboxdelivery_event_id"),
                ],
            },
        ),
    ]
