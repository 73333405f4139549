"""The Django app: add ``"idwise_events.contrib.django"`` to ``INSTALLED_APPS``.

```python
# settings.py
IDWISE_EVENTS = {"BEARER_TOKEN": os.environ["IDWISE_WEBHOOK_BEARER_TOKEN"]}

# urls.py
urlpatterns = [path("webhooks/idwise/", include("idwise_events.contrib.django.urls"))]

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
"""

from ..._dispatch import Dispatcher
from ._settings import project_config
from ._wiring import build_dispatcher

__all__ = ["dispatcher"]

dispatcher: Dispatcher = build_dispatcher(project_config())
"""The project's [`Dispatcher`][idwise_events.Dispatcher]: register handlers in ``webhooks.py``.

Built when Django starts, from ``IDWISE_EVENTS``, on a
[`DjangoStore`][idwise_events.contrib.django.store.DjangoStore]; the app's URLs serve it.
"""
