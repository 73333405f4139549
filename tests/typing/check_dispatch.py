"""What type checkers see when users register handlers: checked by mypy and pyright in CI.

Not run by pytest. A line that must be a type error carries an ignore comment for each checker;
both are told to report an ignore that is not needed, so if the error went away, CI would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typing_extensions import assert_type

from idwise_events import (
    AmlMonitorUpdate,
    Dispatcher,
    Event,
    FinishedJourney,
    FinishedStep,
    ManuallyReviewed,
    NoAuth,
    Outcome,
    PayloadError,
    UnknownEvent,
    UpdatedJourney,
    WebhookRequest,
    WebhookResponse,
)
from idwise_events.inbox.worker import EmbeddedWorker

dispatcher = Dispatcher(verifier=NoAuth())


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    assert_type(event.body.journey_id, str)


@dispatcher.on(FinishedJourney, ManuallyReviewed)
async def decided(event: FinishedJourney | ManuallyReviewed) -> None:
    assert_type(event, FinishedJourney | ManuallyReviewed)


@dispatcher.on(FinishedJourney, ManuallyReviewed, UpdatedJourney)
def any_of_three(event: FinishedJourney | ManuallyReviewed | UpdatedJourney) -> None: ...


@dispatcher.on(FinishedJourney, ManuallyReviewed, UpdatedJourney, AmlMonitorUpdate)
def any_of_four(
    event: FinishedJourney | ManuallyReviewed | UpdatedJourney | AmlMonitorUpdate,
) -> None: ...


@dispatcher.on(FinishedJourney, ManuallyReviewed, UpdatedJourney, AmlMonitorUpdate, FinishedStep)
def any_of_five(
    event: FinishedJourney | ManuallyReviewed | UpdatedJourney | AmlMonitorUpdate | FinishedStep,
) -> None: ...


@dispatcher.on(FinishedJourney, ManuallyReviewed, UpdatedJourney, AmlMonitorUpdate)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
def four_but_narrow(event: FinishedJourney) -> None: ...


@dispatcher.on(FinishedJourney)
def wider(event: Event) -> None:  # accepting more than is registered is fine
    ...


@dispatcher.on(FinishedJourney)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
def mismatched(event: ManuallyReviewed) -> None: ...


@dispatcher.on(FinishedJourney, ManuallyReviewed)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
def too_narrow(event: FinishedJourney) -> None: ...


@dispatcher.on_unknown
def unknown(event: UnknownEvent) -> None:
    assert_type(event.body, dict[str, Any])


@dispatcher.on_any
async def everything(event: Event) -> None: ...


@dispatcher.on_invalid
def invalid(request: WebhookRequest, error: PayloadError) -> None: ...


@dispatcher.on_fingerprint_mismatch
def mismatch(event: Event, request: WebhookRequest) -> None: ...


# The decorators hand back the function they were given, types unchanged.
assert_type(finished, Callable[[FinishedJourney], None])


async def serve(request: WebhookRequest) -> WebhookResponse:
    return await dispatcher.handle_async(request)


assert_type(dispatcher.handle(WebhookRequest(b"{}")), WebhookResponse)


# Context managers give back the subclass a user made of them.
class _CountingWorker(EmbeddedWorker):
    extra = 1


def _with_subclass(inbox_dispatcher: Dispatcher) -> None:
    with _CountingWorker(inbox_dispatcher) as worker:
        assert_type(worker, _CountingWorker)
        assert_type(worker.extra, int)


async def _async_with_subclass(inbox_dispatcher: Dispatcher) -> None:
    async with _CountingWorker(inbox_dispatcher) as worker:
        assert_type(worker, _CountingWorker)


def _outcome_of(answer: WebhookResponse) -> None:
    assert_type(answer.outcome, Outcome | None)
