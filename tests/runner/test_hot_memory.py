"""The hot memory budget (edgehost/runner/hot_memory.py) with real compiled guests: one project's
instances are kept hot only within its share, never at another project's expense."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import wasmtime

from edgehost.plugins.hot_pool import HotPool
from edgehost.plugins.pooling import PoolRegistry
from edgehost.runner.hot_memory import HotMemoryBudget
from edgehost.runtime import FunctionSpec, GuestRequest, Instance, InvokeError
from tests.procs import REPO, wait_until

HELLO = bytes(wasmtime.wat2wasm((REPO / "functions/hello/hello.wat").read_text()))  # 1 page
GROW = bytes(wasmtime.wat2wasm((REPO / "tests/guests/grow.wat").read_text()))  # 1 page, grows by 65
PAGE = 65536
REQUEST = GuestRequest(method="GET", uri="/", headers=[], body=b"")


def spec(project: str, name: str = "f") -> FunctionSpec:
    return FunctionSpec(
        function_id=f"{project}.{name}", version=1, memory_pages=128, max_execution_ms=1000, project=project
    )


def registry_with(budget: HotMemoryBudget, max_hot_instances: int | None = None) -> PoolRegistry:
    return PoolRegistry(
        [], idle_timeout_s=60.0, pressure_percent=100.0, budget=budget, max_hot_instances=max_hot_instances
    )


@pytest.fixture
def budget() -> HotMemoryBudget:
    return HotMemoryBudget(max_bytes=4 * PAGE, project_bytes=3 * PAGE)


@pytest.fixture
def registry(budget: HotMemoryBudget) -> Iterator[PoolRegistry]:
    reg = registry_with(budget)
    yield reg
    for pool in list(reg.pools):
        reg.discard(pool)


def hold_busy(pool: HotPool, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`count` requests in flight at once, so `count` instances (idle ones taken, the rest made)
    return to the pool together: each waits in its guest call until all `count` are in theirs."""
    in_call = threading.Barrier(count)
    original = Instance.invoke

    def waiting(self: Instance, *args: object, **kwargs: object) -> object:
        in_call.wait(10)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Instance, "invoke", waiting)
        answers: list[int] = []
        threads = [
            threading.Thread(
                target=lambda i=i: answers.append(pool.invoke(REQUEST, request_id=str(i)).status)
            )
            for i in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert not in_call.broken and answers == [200] * count  # all were in flight together


def test_warming_stops_at_the_project_share(registry: PoolRegistry, budget: HotMemoryBudget) -> None:
    hog = registry(spec("hog"), HELLO, None, 50, 50)
    hog.warm()
    assert hog.size == 3 and budget.held("hog") == 3 * PAGE  # project_bytes: 3 pages
    assert hog.refused == 1
    assert hog.invoke(REQUEST, request_id="r").status == 200  # still served


def test_a_second_project_gets_its_share_and_the_first_is_trimmed(
    registry: PoolRegistry, budget: HotMemoryBudget, monkeypatch: pytest.MonkeyPatch
) -> None:
    hog = registry(spec("hog"), HELLO, None, 50, 50)
    hog.warm()
    quiet = registry(spec("quiet"), HELLO, None, 2, 4)  # shares are now 4 pages / 2 projects
    quiet.warm()
    assert quiet.size == 2 and quiet.refused == 0  # the hog arriving first takes nothing of quiet's
    assert registry.trim_to_shares() == 1
    assert hog.size == 2 and budget.held("hog") == 2 * PAGE
    assert budget.held("hog") + budget.held("quiet") <= budget.max_bytes
    # Many of the hog's requests at once: none of their instances is kept past its share.
    hold_busy(hog, 5, monkeypatch)
    assert hog.size == 2 and budget.held("hog") == 2 * PAGE
    assert quiet.size == 2 and budget.held("quiet") == 2 * PAGE


def test_memory_a_guest_grew_is_charged_when_it_returns(
    registry: PoolRegistry, budget: HotMemoryBudget
) -> None:
    budget.limit(max_bytes=100 * PAGE, project_bytes=100 * PAGE)
    pool = registry(spec("grower"), GROW, None, 1, 4)
    pool.warm()
    assert budget.held("grower") == PAGE
    assert pool.invoke(REQUEST, request_id="g1").status == 200  # now 1 + 1 + 64 pages
    assert budget.held("grower") == 66 * PAGE and pool.size == 1
    # its next call grows it to 67 pages (64 more exceed 128)
    budget.limit(max_bytes=100 * PAGE, project_bytes=66 * PAGE)
    assert pool.invoke(REQUEST, request_id="g2").status == 200
    assert pool.size == 0 and budget.held("grower") == 0 and pool.refused == 1


def test_discarded_pools_free_their_memory_and_their_share(
    registry: PoolRegistry, budget: HotMemoryBudget
) -> None:
    first = registry(spec("a"), HELLO, None, 3, 3)
    second = registry(spec("b"), HELLO, None, 3, 3)
    first.warm()
    second.warm()
    registry.discard(first)
    assert budget.held("a") == 0
    assert budget.share("b") == 3 * PAGE  # alone again: project_bytes bounds it, not max_bytes / 2
    second.warm()
    assert second.size == 3


def test_the_runner_caps_min_and_max_hot_instances(budget: HotMemoryBudget) -> None:
    budget.limit(max_bytes=100 * PAGE, project_bytes=100 * PAGE)
    registry = registry_with(budget, max_hot_instances=2)
    pool = registry(spec("many"), HELLO, None, 50, 80)
    pool.warm()
    assert (pool.size, pool.min_hot, pool.max_hot) == (2, 2, 2)
    registry.discard(pool)


def test_instances_evicted_or_reaped_free_their_memory(
    registry: PoolRegistry, budget: HotMemoryBudget, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = registry(spec("churn"), HELLO, None, 0, 2)
    hold_busy(pool, 3, monkeypatch)  # three come back; max_hot_instances keeps two
    assert pool.size == 2 and budget.held("churn") == 2 * PAGE
    assert pool.evict_one() and budget.held("churn") == PAGE
    assert registry.reap(now=float("inf")) == 1 and budget.held("churn") == 0


def test_instances_made_ahead_to_serve_once_are_charged_and_stop_at_the_share(
    registry: PoolRegistry, budget: HotMemoryBudget
) -> None:
    once = FunctionSpec(
        function_id="once.f",
        version=1,
        memory_pages=128,
        max_execution_ms=1000,
        project="once",
        fresh_instance=True,
    )
    pool = registry(once, HELLO, None, 5, 5)
    pool.warm()
    # The share (3 pages) holds three; a fourth is not even made once the first showed the size.
    assert (pool.size, pool.created, pool.refused, budget.held("once")) == (3, 3, 1, 3 * PAGE)
    for n in range(1, 4):
        assert pool.invoke(REQUEST, request_id=str(n)).status == 200  # its instance is not charged again...
        # ...and the refill makes only what that freed: three ready, each charged, none past the share
        wait_until(lambda n=n: pool.refused == 1 + n, what="the refill to stop at the share")
        assert (pool.size, pool.created, budget.held("once")) == (3, 3 + n, 3 * PAGE)


START_TRAPS = bytes(
    wasmtime.wat2wasm(
        """(module (memory (export "memory") 1)
        (func $start unreachable) (start $start)
        (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
        (func (export "handle") (param i32 i32) (result i64) (i64.const 0)))"""
    )
)


def test_a_project_over_its_share_still_learns_at_deploy_that_its_guest_cannot_start(
    registry: PoolRegistry, budget: HotMemoryBudget
) -> None:
    registry(spec("full"), HELLO, None, 3, 3).warm()  # its whole share: 3 pages
    # shares shrank: the project is now over its share
    budget.limit(max_bytes=budget.max_bytes, project_bytes=2 * PAGE)
    broken = registry(spec("full", "broken"), START_TRAPS, None, 1, 1)
    with pytest.raises(InvokeError) as info:
        broken.warm()  # the one instance is made, so its start function runs and is reported
    assert info.value.code == "trap"
