"""GuestThreads: results and exceptions reach the awaiting request; a cancelled request is harmless."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edgehost.runtime.workers import GuestThreads


def test_results_and_exceptions_come_back_on_the_loop() -> None:
    threads = GuestThreads(2)

    async def main() -> None:
        assert await threads.run(threading.current_thread) is not threading.current_thread()
        with pytest.raises(ZeroDivisionError):
            await threads.run(lambda: 1 // 0)

    try:
        asyncio.run(main())
    finally:
        threads.close()


def test_a_cancelled_request_does_not_break_the_thread() -> None:
    threads = GuestThreads(1)
    release = threading.Event()

    async def main() -> int:
        slow = threads.run(release.wait)
        slow.cancel()
        release.set()
        return await threads.run(lambda: 42)  # the same single thread serves the next call

    try:
        assert asyncio.run(main()) == 42
    finally:
        threads.close()


def test_guest_threads_yield_the_cpu_to_the_loop_that_serves() -> None:
    """Runaways at the loop's priority delayed routing and answers by seconds on 2 cores."""
    import os

    from edgehost.runtime.workers import NICE

    threads = GuestThreads(1)
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def main() -> int:
        return await threads.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    try:
        assert asyncio.run(main()) == min(19, loop_nice + NICE)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice
    finally:
        threads.close()


def test_the_loop_never_waits_for_a_new_guest_thread_to_get_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """`threading.Thread.start()` waits until the thread runs: under 40 runaways, 50 ms of a blocked
    loop per new thread. A thread that is created but never scheduled must not hold up `run`."""
    from edgehost.runtime import workers

    created: list[object] = []
    monkeypatch.setattr(workers._thread, "start_new_thread", lambda fn, args: created.append(fn))
    threads = GuestThreads(2)

    async def main() -> bool:
        return threads.run(lambda: None).done()

    assert asyncio.run(main()) is False  # queued, and `run` returned
    assert len(created) == 1
