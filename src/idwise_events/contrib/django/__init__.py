"""The Django app: add ``"idwise_events.contrib.django"`` to ``INSTALLED_APPS``.

```python
# settings.py
IDWISE_EVENTS = {"BEARER_TOKEN": os.environ["IDWISE_WEBHOOK_BEARER_TOKEN"]}

# urls.py
urlpatterns = [path("webhooks/", include("idwise_events.contrib.django.urls"))]

# yourapp/webhooks.py
from idwise_events import FinishedJourney
from idwise_events.contrib.django import dispatcher


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None: ...
```

The app reads ``IDWISE_EVENTS`` (checked by the system checks), remembers events in the
project's database with [`DjangoStore`][idwise_events.contrib.django.store.DjangoStore], imports
each installed app's ``webhooks.py``, sends [signals][idwise_events.contrib.django.signals], and
adds a read-only admin and the ``idwise_events_purge`` and ``idwise_events_send`` commands.

Importing this package, or any module of it but ``models`` and ``admin``, reads no setting:
a project that wires its own dispatcher imports `DjangoStore` anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["dispatcher"]

if TYPE_CHECKING:
    from ..._dispatch import Dispatcher

    dispatcher: Dispatcher
    """The project's [`Dispatcher`][idwise_events.Dispatcher]: register handlers in ``webhooks.py``.

    Built on first use, from ``IDWISE_EVENTS``, on a
    [`DjangoStore`][idwise_events.contrib.django.store.DjangoStore]; the app's URLs serve it. Its
    authentication follows the settings as they are at each delivery (``override_settings`` in
    tests included); its ``LEASE``, ``MAX_BODY_BYTES`` and ``STATUSES`` are those of its first
    use.
    """


def __getattr__(name: str) -> object:
    """``dispatcher``, built when first asked for (settings are read then, not at import)."""
    if name == "dispatcher":
        from ._wiring import project_dispatcher

        globals()[name] = built = project_dispatcher()  # later lookups find it at once
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
