"""The journey outcomes' table (written by makemigrations)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    """Create the table."""

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="JourneyOutcome",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("journey_id", models.CharField(max_length=100)),
                ("decision", models.CharField(max_length=50)),
                ("event_id", models.CharField(max_length=100, unique=True)),
            ],
        ),
    ]
