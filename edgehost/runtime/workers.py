"""Guest threads for calls that must not run on the event loop.

A runaway guest burns its deadline on one of these threads while the loop keeps serving
(wasmtime releases the GIL while guest code runs). The hand-off is one queue put and one
`call_soon_threadsafe`, without `concurrent.futures` bookkeeping: about a third cheaper
than `loop.run_in_executor` (docs/runtime.md).

Guest threads run at a lower CPU priority (NICE) than the rest of the process, so runaways
do not take the CPU from the event loop and granian's threads, which only need it in short
bursts: beside 40 runaways on 2 cores, hello answered ~200 requests/s with a p50 of 60-85 ms at
equal priority, and ~2,000/s at 5-8 ms niced (bench/deadline_contention.py). Idle CPU is the
guests' whatever their priority.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
# Added to the niceness of each guest thread (Linux: per thread); 19 is the lowest priority.
NICE = 10


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the awaiting request was cancelled (client gone)
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class GuestThreads:
    """A growing set of daemon threads, at most `max_threads`, fed by one queue."""

    def __init__(self, max_threads: int) -> None:
        self._max = max_threads
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Runs `fn` on a guest thread; the returned future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._threads < self._max:
                self._threads += 1
                # Not `threading.Thread.start()`: it waits until the new thread runs, and with
                # runaways holding both cores that blocked the loop for up to 50 ms a thread.
                _thread.start_new_thread(self._work, ())
        self._jobs.put((loop, future, fn))
        return future

    def _work(self) -> None:
        os.nice(NICE)  # this thread only (Linux)
        while (job := self._jobs.get()) is not None:
            loop, future, fn = job
            try:
                result: tuple[bool, Any] = (True, fn())
            except BaseException as exc:  # handed to the awaiting request
                result = (False, exc)
            with self._lock:
                self._idle += 1
            with contextlib.suppress(RuntimeError):  # the loop closed while the guest ran
                loop.call_soon_threadsafe(_settle, future, *result)

    def close(self) -> None:
        """Lets every thread finish its current call and exit."""
        with self._lock:
            count, self._threads = self._threads, 0
        for _ in range(count):
            self._jobs.put(None)
