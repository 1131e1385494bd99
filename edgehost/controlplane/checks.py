"""Where the control plane runs registration checks (`validate_module`), so one tenant's uploads
cannot stall anyone else.

Checking a component compiles it: seconds of CPU for a componentize-py one (CPython inside). On
the event loop's default executor, a few concurrent finalizes would take every worker thread the
CP also needs for artifact reads and writes, KV calls and route checks, and the loop's own core.
Here checks run on their own threads, at most `api.max_concurrent_checks` at a time, and each
project has at most one check in flight or queued for those threads: a project that finalizes
many versions at once waits for its own, and another project's finalize waits for at most one
check per other project ahead of it (the threads' queue is first come, first served).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class CheckQueue:
    """Runs blocking checks off the event loop: bounded threads, one at a time per project."""

    def __init__(self, max_concurrent: int) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix="edgefn-check"
        )
        self._projects: dict[str, tuple[asyncio.Lock, int]] = {}  # lock, checks holding or awaiting it

    async def run(self, project: str, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`check(*args, **kwargs)` on a check thread once `project`'s earlier checks finished;
        its result, or what it raised."""
        lock, users = self._projects.get(project) or (asyncio.Lock(), 0)
        self._projects[project] = (lock, users + 1)
        try:
            async with lock:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._threads, partial(check, *args, **kwargs))
        finally:
            lock, users = self._projects[project]
            if users == 1:
                del self._projects[project]
            else:
                self._projects[project] = (lock, users - 1)

    def close(self) -> None:
        """Stops the threads once the checks already started are done; queued ones are dropped."""
        self._threads.shutdown(wait=False, cancel_futures=True)
