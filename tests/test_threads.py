"""The worker threads that run plain handlers and blocking store calls from async code.

They keep what ``asyncio.to_thread`` promises: results and exceptions reach the caller, context
variables are seen, calls run side by side up to a bound, a cancelled caller leaves the thread
usable, and every event loop (one after the other, or at once) gets its own results.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import multiprocessing
import sys
import threading
import time
import warnings
import weakref

import pytest

from idwise_events import _threads
from idwise_events._threads import to_thread

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def test_the_result_and_the_exception_reach_the_caller() -> None:
    async def main() -> None:
        assert await to_thread(pow, 2, 10) == 1024
        assert await to_thread(int, "7", base=8) == 7
        with pytest.raises(ValueError, match="invalid literal"):
            await to_thread(int, "not a number")

    asyncio.run(main())


def test_stop_iteration_becomes_a_runtime_error_as_a_future_cannot_carry_it() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration") as raised:
            await to_thread(next, iter(()))
        assert isinstance(raised.value.__cause__, StopIteration)
        assert await to_thread(lambda: "still working") == "still working"

    asyncio.run(main())


def test_the_call_sees_the_callers_context_variables() -> None:
    async def main() -> list[str]:
        async def one(request_id: str) -> str:
            REQUEST_ID.set(request_id)
            await asyncio.sleep(0)
            return await to_thread(REQUEST_ID.get)

        return list(await asyncio.gather(*(one(f"req-{n}") for n in range(20))))

    assert asyncio.run(main()) == [f"req-{n}" for n in range(20)]


def test_blocking_calls_run_side_by_side() -> None:
    """Six calls that each wait for all six can only return if six threads run at once."""
    parties = min(6, _threads.MAX_THREADS)
    barrier = threading.Barrier(parties, timeout=10)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(to_thread(barrier.wait) for _ in range(parties))))

    assert sorted(asyncio.run(main())) == list(range(parties))


def _every_thread_idle() -> None:
    """Wait until every worker thread is idle, with at least one: holding the idle ones holds all.

    A thread that has just handed back an earlier call's result becomes idle a moment later, and
    would then take a call meant to wait.
    """
    asyncio.run(to_thread(int))
    deadline = time.monotonic() + 10
    while len(_threads._idle) != _threads._threads:
        assert time.monotonic() < deadline, "a worker thread stayed busy"
        time.sleep(0.01)


def test_calls_beyond_the_thread_limit_wait_their_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every thread busy, later calls queue and still run, no more than the limit at once."""
    _every_thread_idle()
    monkeypatch.setattr(_threads, "MAX_THREADS", _threads._threads + 2)  # two more, at most
    running = 0
    most = 0
    lock = threading.Lock()

    def slow(number: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return number

    async def main() -> list[int]:
        # Busy every idle thread too, so that only the two new ones and the queue are left.
        idle = len(_threads._idle)
        hold = threading.Event()
        held = [asyncio.ensure_future(to_thread(hold.wait, 10)) for _ in range(idle)]
        await asyncio.sleep(0.05)
        try:
            return list(await asyncio.gather(*(to_thread(slow, n) for n in range(10))))
        finally:
            hold.set()
            await asyncio.gather(*held)

    assert asyncio.run(main()) == list(range(10))
    assert most == 2


def test_a_cancelled_caller_drops_the_result_and_the_thread_stays_usable() -> None:
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.1)
        finished.set()
        return "late"

    async def main() -> str:
        task = asyncio.ensure_future(to_thread(slow))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.wait(5)  # the call itself ran to its end
        await asyncio.sleep(0.05)  # its result reached a cancelled future: dropped, no error
        return await to_thread(str.upper, "next")

    assert asyncio.run(main()) == "NEXT"


def test_each_event_loop_gets_its_own_results_in_turn_and_at_once() -> None:
    async def main(tag: str) -> list[str]:
        return list(await asyncio.gather(*(to_thread(f"{tag}-{{}}".format, n) for n in range(50))))

    assert asyncio.run(main("first")) == [f"first-{n}" for n in range(50)]
    assert asyncio.run(main("second")) == [f"second-{n}" for n in range(50)]

    results: dict[str, list[str]] = {}

    def in_thread(tag: str) -> None:
        results[tag] = asyncio.run(main(tag))

    threads = [threading.Thread(target=in_thread, args=(f"loop{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {f"loop{n}": [f"loop{n}-{m}" for m in range(50)] for n in range(3)}

    async def only_this_loop_is_kept() -> bool:
        await to_thread(int)
        return [results.loop() for results in _threads._results.values()] == [
            asyncio.get_running_loop()
        ]

    assert asyncio.run(only_this_loop_is_kept())  # the closed loops' results were let go


def _in_forked_child(answers: multiprocessing.SimpleQueue[str]) -> None:
    answers.put(asyncio.run(to_thread(str.upper, "child")))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_a_forked_child_starts_its_own_threads() -> None:
    """The parent's threads do not exist in a child: it must not wait for them."""
    assert asyncio.run(to_thread(str.upper, "parent")) == "PARENT"  # the parent has threads
    context = multiprocessing.get_context("fork")
    answers: multiprocessing.SimpleQueue[str] = context.SimpleQueue()
    child = context.Process(target=_in_forked_child, args=(answers,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert answers.get() == "CHILD"


def test_a_call_whose_caller_stopped_waiting_before_it_started_is_not_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As with ``asyncio.to_thread``: a store's claim nobody waits for any more is not taken."""
    _every_thread_idle()
    monkeypatch.setattr(_threads, "MAX_THREADS", _threads._threads)  # no new thread: all queue
    hold = threading.Event()
    made = threading.Event()

    async def main() -> None:
        busy = [asyncio.ensure_future(to_thread(hold.wait, 10)) for _ in _threads._idle[:]]
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(to_thread(made.set))  # waits for a busy thread
        await asyncio.sleep(0.05)
        queued.cancel()
        hold.set()
        await asyncio.gather(*busy)
        assert await to_thread(str, "after") == "after"  # every thread went back to work

    asyncio.run(main())
    assert not made.is_set()


def test_a_call_from_one_of_the_threads_never_waits_for_the_others() -> None:
    """Every thread is busy with a plain function that runs a loop of its own and calls again.

    Each inner call gets a thread of its own, or they would all wait for each other forever.
    """
    parties = _threads.MAX_THREADS
    barrier = threading.Barrier(parties, timeout=10)

    def plain_handler() -> int:
        barrier.wait()  # every thread is busy with one
        return asyncio.run(to_thread(int, "7"))

    async def main() -> list[int]:
        calls = asyncio.gather(*(to_thread(plain_handler) for _ in range(parties)))
        return list(await asyncio.wait_for(calls, 20))

    assert asyncio.run(main()) == [7] * parties


def test_several_loops_starting_at_once_each_get_their_results() -> None:
    """Loops in four threads, made and closed over and over, beside 100 open ones."""
    open_loops = [asyncio.new_event_loop() for _ in range(100)]
    for loop in open_loops:
        loop.run_until_complete(to_thread(int))
    errors: list[BaseException] = []
    stop = time.monotonic() + 2
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible

    def loops() -> None:
        while time.monotonic() < stop and not errors:
            try:
                assert asyncio.run(to_thread(int, "3")) == 3
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=loops) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)
        for loop in open_loops:
            loop.close()
    assert errors == []


def test_a_loop_dropped_without_closing_it_is_not_kept_alive() -> None:
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(to_thread(int, "5")) == 5
    dropped = weakref.ref(loop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # unclosed, on purpose
        del loop
        for _ in range(100):  # (the thread lets go of the call just after answering it)
            gc.collect()
            if dropped() is None:
                break
            time.sleep(0.01)
    assert dropped() is None


def test_when_no_thread_can_be_started_the_waiting_calls_are_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call queued while the only thread was failing to start gets the error, not a hang."""
    monkeypatch.setattr(_threads, "_idle", [])
    monkeypatch.setattr(_threads, "_threads", 0)
    monkeypatch.setattr(_threads, "MAX_THREADS", 1)
    starting = threading.Event()
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name != "idwise-events-thread":
            real_start(self)
            return
        starting.set()
        time.sleep(0.3)  # long enough for another loop's call to queue
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", start)
    outcomes: dict[str, str] = {}

    def call(tag: str) -> None:
        async def main() -> str:
            if tag == "queued":
                starting.wait(5)
            return str(await asyncio.wait_for(to_thread(int, "1"), 5))

        try:
            outcomes[tag] = asyncio.run(main())
        except Exception as error:
            outcomes[tag] = str(error)

    callers = [threading.Thread(target=call, args=(tag,)) for tag in ("first", "queued")]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)
    assert outcomes["first"] == "can't start new thread"
    assert outcomes["queued"].startswith("no worker thread could be started")
    assert not _threads._backlog
