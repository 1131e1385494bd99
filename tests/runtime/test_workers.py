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
