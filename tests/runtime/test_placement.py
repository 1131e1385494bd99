"""Where a guest call runs: inline on the loop while its function proves short, on guest threads after.

Unit tests with stand-in pools: what is under test is the placement decision, not wasm.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse, fastcall
from edgehost.runtime.placement import SLOW_INLINE_S, Placement

REQUEST = GuestRequest("GET", "/", [], b"")
SLOW_S = SLOW_INLINE_S * 3


@pytest.fixture
def placement() -> Iterator[Placement]:
    placement = Placement(threads=2)
    yield placement
    placement.close()


class StandInPool:
    """Answers after `work(SLOW_S)`, and records which thread ran each call."""

    def __init__(self, work: str) -> None:
        self.spec = FunctionSpec(function_id=f"t.{work}", version=1, memory_pages=16, max_execution_ms=50)
        self.work = work
        self.threads: list[str] = []

    def invoke(
        self, request: GuestRequest, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        self.threads.append(threading.current_thread().name)
        if self.work == "sleep":  # the process is descheduled: wall time passes, no CPU is used
            time.sleep(SLOW_S)
        else:
            deadline = time.thread_time() + SLOW_S
            while time.thread_time() < deadline:
                pass
        return GuestResponse(200, [], b"", [], 0.0)


async def test_a_guest_that_burns_cpu_moves_to_guest_threads_after_its_second_slow_call(
    placement: Placement,
) -> None:
    pool = StandInPool("spin")
    for _ in range(3):
        await placement.invoke(pool, REQUEST, "r")
    loop_thread = threading.current_thread().name
    assert pool.threads[:2] == [loop_thread, loop_thread]  # one slow call alone proves nothing
    assert pool.threads[2] != loop_thread


async def test_a_call_that_only_looks_slow_because_the_process_waited_stays_inline(
    placement: Placement,
) -> None:
    pool = StandInPool("sleep")
    for _ in range(4):
        await placement.invoke(pool, REQUEST, "r")
    assert set(pool.threads) == {threading.current_thread().name}


class Alternating(StandInPool):
    """Slow and fast calls in turn, as a guest would to stay inline and stall everyone else."""

    def __init__(self) -> None:
        super().__init__("spin")
        self.calls = 0

    def invoke(
        self, request: GuestRequest, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        self.calls += 1
        if self.calls % 2:
            return super().invoke(request, request_id=request_id, deadline=deadline)
        self.threads.append(threading.current_thread().name)
        return GuestResponse(200, [], b"", [], 0.0)


async def test_fast_calls_in_between_do_not_keep_a_slow_guest_inline(placement: Placement) -> None:
    pool = Alternating()
    for _ in range(6):
        await placement.invoke(pool, REQUEST, "r")
    loop_thread = threading.current_thread().name
    assert pool.threads[:3] == [loop_thread] * 3  # slow, fast, slow (the second slow one decides)
    assert loop_thread not in pool.threads[3:]


async def test_a_function_that_names_kv_stores_runs_on_guest_threads_from_its_first_call(
    placement: Placement,
) -> None:
    """A KV call waits on its store (a Redis round trip, up to kv.timeout_s): never on the loop."""
    pool = StandInPool("sleep")
    pool.spec = FunctionSpec(
        function_id="t.kv", version=1, memory_pages=16, max_execution_ms=50, kv=("default",)
    )
    await placement.invoke(pool, REQUEST, "r")
    assert pool.threads[0] != threading.current_thread().name


class Collecting(StandInPool):
    """A fast guest whose calls each happen to trigger a full garbage collection of a big heap."""

    def __init__(self) -> None:
        super().__init__("collect")
        self.heap = [[i] for i in range(400_000)]  # tracked objects: a collection takes ~10-40 ms

    def invoke(
        self, request: GuestRequest, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        self.threads.append(threading.current_thread().name)
        started = time.thread_time()
        gc.collect()
        self.collect_s = time.thread_time() - started
        return GuestResponse(200, [], b"", [], 0.0)


async def test_a_garbage_collection_during_a_call_does_not_make_its_guest_slow(placement: Placement) -> None:
    """Under load a full collection (3-45 ms in a runner) runs inside some request's guest call;
    it is the process's work, not the guest's, and must not move a fast function off the loop."""
    pool = Collecting()
    for _ in range(4):
        await placement.invoke(pool, REQUEST, "r")
    assert pool.collect_s > SLOW_INLINE_S  # the collections alone would have looked slow
    assert set(pool.threads) == {threading.current_thread().name}


async def test_inline_calls_keep_the_gil_on_the_loop_and_guest_threads_release_it(
    placement: Placement, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop waits for an inline call either way; a guest thread's call runs beside the loop."""
    monkeypatch.setattr(fastcall._policy, "keeps_gil", False)  # as if no earlier test had set it
    seen: dict[str, bool] = {}

    class Recording(StandInPool):
        def invoke(
            self, request: GuestRequest, *, request_id: str, deadline: float | None = None
        ) -> GuestResponse:
            seen["thread" if deadline is not None else "inline"] = fastcall._policy.keeps_gil
            return GuestResponse(200, [], b"", [], 0.0)

    await placement.invoke(Recording("fast"), REQUEST, "r")
    slow = Recording("fast")
    slow.spec = FunctionSpec(function_id="t.slow", version=1, memory_pages=16, max_execution_ms=5000)
    await placement.invoke(slow, REQUEST, "r")
    assert seen == {"inline": True, "thread": False}
