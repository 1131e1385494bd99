"""Blocking CPU work run per project on bounded threads, so one tenant's work cannot stall anyone
else's: the control plane's registration checks (`validate_module`) and a runner's compiles of
the deployments it brings up.

Checking or compiling a component takes seconds of CPU (a componentize-py one has CPython inside).
On the event loop's default executor, a few at once would take every worker thread the process
also needs (artifact reads and writes, KV calls, route checks) and the loop's own core. Here the
work runs on its own threads, a bounded number at a time, and each project has at most one item in
flight or queued for those threads: a project that submits many waits for its own, and another
project's item waits for at most one per other project ahead of it (the threads' queue is first
come, first served).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class ProjectQueue:
    """Runs blocking work off the event loop: bounded threads, one item at a time per project."""

    def __init__(self, max_concurrent: int, thread_name: str) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix=thread_name
        )
        self._projects: dict[str, tuple[asyncio.Lock, int]] = {}  # lock, items holding or awaiting it

    async def run(self, project: str, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work(*args, **kwargs)` on one of the queue's threads once `project`'s earlier items
        finished; its result, or what it raised."""
        lock, users = self._projects.get(project) or (asyncio.Lock(), 0)
        self._projects[project] = (lock, users + 1)
        try:
            async with lock:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._threads, partial(work, *args, **kwargs))
        finally:
            lock, users = self._projects[project]
            if users == 1:
                del self._projects[project]
            else:
                self._projects[project] = (lock, users - 1)

    def close(self) -> None:
        """Stops the threads once the items already started are done; queued ones are dropped."""
        self._threads.shutdown(wait=False, cancel_futures=True)
