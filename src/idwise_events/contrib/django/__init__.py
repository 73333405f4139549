"""The Django app: add ``"idwise_events.contrib.django"`` to ``INSTALLED_APPS``.

It keeps the idempotency keys of IDWise events in the project's own database, through the ORM:
[`DjangoStore`][idwise_events.contrib.django.store.DjangoStore] and its model,
[`ReceivedEvent`][idwise_events.contrib.django.models.ReceivedEvent], created by
``manage.py migrate``.
"""

__all__: list[str] = []
