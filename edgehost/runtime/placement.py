"""Where a guest call runs: inline on the event loop while its function proves short, on guest
threads otherwise (docs/runtime.md has the measurements).

A hand-off to a thread costs several hot invokes, so a function runs inline while it proves
short. A function that may run long (a deadline above INLINE_MAX_MS, or outbound fetches and KV
store calls that wait on the network), or whose inline calls took longer than SLOW_INLINE_S
twice, the second time in thread CPU time (so a preempted process proves nothing), runs on guest
threads from then on:
a runaway burns its deadline there while the loop keeps answering (guest threads release the GIL
while guest code runs; inline calls keep it where the epoch advances without Python, since the
loop waits for them either way). Fast calls in between do not clear a slow one (a guest alternating slow
and fast calls would otherwise stay inline and stall every tenant's requests), so the loop is
stalled at most twice per function version, by at most INLINE_MAX_MS each.
"""

from __future__ import annotations

import logging
from functools import partial
from threading import get_ident
from time import monotonic, perf_counter, thread_time
from typing import TYPE_CHECKING

from .engine import keep_gil_on_this_thread
from .gc_clock import gc_seconds
from .types import GuestResponse
from .workers import GuestThreads

if TYPE_CHECKING:
    from edgehost.contracts import InstancePool

log = logging.getLogger("edgefn.placement")

INLINE_MAX_MS = 50
SLOW_INLINE_S = 0.002
GUEST_THREADS = 64


class Placement:
    """Runs each call of an `InstancePool` inline or on guest threads, remembering per function
    version (function id, version) which ones proved slow, for the life of the process."""

    def __init__(self, threads: int = GUEST_THREADS) -> None:
        self.threads = GuestThreads(threads)
        self._offloaded: set[tuple[str, int]] = set()  # function versions that proved slow inline
        self._suspects: set[tuple[str, int]] = set()  # their last inline call took long in wall time
        self._inline_thread: int | None = None  # the thread whose inline calls may keep the GIL

    async def invoke(self, pool: InstancePool, request: bytes, request_id: str) -> GuestResponse:
        """`pool.invoke(request)` where it belongs; raises what it raises (`InvokeError`). On guest
        threads the call's `max_execution_ms` starts now: waiting for a free thread spends it too
        (40 runaways on 2 cores made that wait half a second)."""
        spec = pool.spec
        key = (spec.function_id, spec.version)
        if spec.max_execution_ms > INLINE_MAX_MS or spec.http_allow or spec.kv or key in self._offloaded:
            deadline = monotonic() + spec.max_execution_ms / 1000
            return await self.threads.run(
                partial(pool.invoke, request, request_id=request_id, deadline=deadline)
            )
        if self._inline_thread != get_ident():
            keep_gil_on_this_thread()
            self._inline_thread = get_ident()
        # Wall time flags a slow call cheaply, but a preempted process makes any call look slow:
        # a suspect's calls are timed in thread CPU time too, and its next slow one decides.
        # Neither counts a garbage collection the call happened to trigger (gc_clock).
        suspect = key in self._suspects
        cpu = thread_time() if suspect else 0.0
        collecting = gc_seconds()
        started = perf_counter()
        try:
            return pool.invoke(request, request_id=request_id)
        finally:
            collected = gc_seconds() - collecting
            if perf_counter() - started - collected > SLOW_INLINE_S:
                if suspect and thread_time() - cpu - collected > SLOW_INLINE_S:
                    self._offloaded.add(key)
                    log.info("%s v%s runs on guest threads from now on", *key)
                self._suspects.add(key)

    def close(self) -> None:
        self.threads.close()
