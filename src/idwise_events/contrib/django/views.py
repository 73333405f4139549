"""The webhook view, synchronous or async, for the project's dispatcher or another one."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse

from ..._dispatch import Dispatcher
from ...adapters.django import async_view, view
from ._settings import project_config

__all__ = ["webhook_view"]


def webhook_view(
    dispatcher: Dispatcher | None = None, *, asynchronous: bool | None = None
) -> (
    Callable[[HttpRequest], HttpResponse]
    | Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]]
):
    """The view that answers IDWise: CSRF-exempt, every method to the dispatcher (405 but POST).

    It runs outside ``ATOMIC_REQUESTS`` transactions, on every database: a claim must be seen by
    other workers as soon as it is made, and a handler that failed must not be half-committed
    by a 500 answer. Wrap a handler's work in ``transaction.atomic()`` to make it all or nothing.

    Args:
        dispatcher: The [`dispatcher`][idwise_events.contrib.django.dispatcher] of the project by
            default.
        asynchronous: An async view calling `Dispatcher.handle_async` (``IDWISE_EVENTS["ASYNC"]``
            by default): coroutine handlers are then awaited on the ASGI server's event loop. A
            synchronous view otherwise, which Django runs in a thread under ASGI.
    """
    if dispatcher is None:
        from . import dispatcher as project_dispatcher

        dispatcher = project_dispatcher
    if asynchronous is None:
        asynchronous = project_config().asynchronous
    webhook = async_view(dispatcher) if asynchronous else view(dispatcher)
    for alias in connections:
        transaction.non_atomic_requests(using=alias)(webhook)
    return webhook
