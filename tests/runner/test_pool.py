"""Hot pools of a real compiled guest: warm-up, reuse, LRU, max size, idle reaping, memory pressure."""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Iterator

import pytest
import wasmtime

from edgehost.plugins import hot_pool
from edgehost.plugins.pooling import PoolRegistry
from edgehost.runtime import FunctionSpec, GuestRequest, Instance, InvokeError
from tests.procs import REPO, wait_until

WASM = bytes(wasmtime.wat2wasm((REPO / "functions/hello/hello.wat").read_text()))
REQUEST = GuestRequest(method="GET", uri="/", headers=[], body=b"")


def spec(name: str = "t.hello") -> FunctionSpec:
    return FunctionSpec(
        function_id=name, version=1, entrypoint="handle", memory_pages=16, max_execution_ms=1000
    )


@pytest.fixture
def registry() -> Iterator[PoolRegistry]:
    reg = PoolRegistry([], idle_timeout_s=10.0, pressure_percent=80.0)
    yield reg
    for pool in list(reg.pools):
        reg.discard(pool)


def test_min_hot_instances_are_warmed_at_deploy() -> None:
    sizes: list[int] = []
    registry = PoolRegistry(
        [], idle_timeout_s=10.0, pressure_percent=80.0, on_size=lambda _fid, size: sizes.append(size)
    )
    pool = registry(spec(), WASM, None, 3, 8)
    pool.warm()
    assert (pool.size, pool.created) == (3, 3)
    assert sizes[-1] == 3  # what the pool gauge is fed
    registry.discard(pool)


def test_second_request_reuses_the_warm_instance(registry: PoolRegistry) -> None:
    pool = registry(spec(), WASM, None, 1, 8)
    pool.warm()
    for n in range(1, 4):
        assert pool.invoke(REQUEST, request_id=str(n)).status == 200
    assert (pool.created, pool.reused, pool.size) == (1, 3, 1)


def test_the_most_recently_used_instance_serves_and_the_coldest_is_evicted(registry: PoolRegistry) -> None:
    pool = registry(spec(), WASM, None, 3, 8)
    pool.warm()
    order = list(pool._idle)
    pool.invoke(REQUEST, request_id="r")
    assert pool._idle[-1] is order[-1]  # the warmest was taken and put back on top
    assert pool.evict_one()
    assert order[0] not in pool._idle and order[0].broken  # the coldest went, destroyed


def test_requests_beyond_max_hot_use_transient_instances_and_the_pool_stays_bounded(
    registry: PoolRegistry,
) -> None:
    pool = registry(spec(), WASM, None, 0, 2)
    started = threading.Barrier(4)
    original = pool._new

    def slow_new(deadline_ms: int | None = None) -> Instance:
        instance = original(deadline_ms)
        started.wait(10)  # four requests hold four instances at once
        return instance

    pool._new = slow_new  # type: ignore[method-assign]
    threads = [
        threading.Thread(target=pool.invoke, args=(REQUEST,), kwargs={"request_id": str(i)}) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert pool.created == 4
    assert pool.size == 2  # two kept hot, the rest evicted LRU-first on release
    assert pool.evicted == 2


def test_idle_instances_are_reaped_after_the_timeout(registry: PoolRegistry) -> None:
    pool = registry(spec(), WASM, None, 2, 8)
    pool.warm()
    now = time.monotonic()
    assert registry.reap(now=now + 5) == 0
    assert registry.reap(now=now + 11) == 2
    assert pool.size == 0


def test_memory_pressure_evicts_the_nodes_coldest_instances_until_below_the_threshold(
    registry: PoolRegistry,
) -> None:
    cold = registry(spec("t.cold"), WASM, None, 2, 8)
    cold.warm()
    hot = registry(spec("t.hot"), WASM, None, 2, 8)
    hot.warm()
    hot.invoke(REQUEST, request_id="r")
    readings = iter([95.0, 90.0, 70.0])
    assert registry.relieve_pressure(lambda: next(readings)) == 2
    assert (cold.size, hot.size) == (0, 2)
    assert registry.relieve_pressure(lambda: 50.0) == 0


def test_discard_on_undeploy_destroys_every_instance(registry: PoolRegistry) -> None:
    pool = registry(spec(), WASM, None, 2, 8)
    pool.warm()
    instances = list(pool._idle)
    registry.discard(pool)
    assert pool.size == 0 and pool not in registry.pools
    assert all(i.broken for i in instances)


class SlowStart:
    """A compiled function whose cold start takes `start_s` on the pool's (fake) clock."""

    def __init__(self, clock: list[float], start_s: float) -> None:
        self.spec = spec()
        self.clock = clock
        self.start_s = start_s
        self.deadlines: list[tuple[str, int | None]] = []

    def instantiate(self, deadline_ms: int | None = None) -> SlowStart:
        self.deadlines.append(("instantiate", deadline_ms))
        self.clock[0] += self.start_s
        return self

    def invoke(self, request: GuestRequest, *, request_id: str, deadline_ms: int | None = None) -> str:
        self.deadlines.append((request_id, deadline_ms))
        return "ok"

    broken = False
    last_used = 0.0


@pytest.fixture
def slow_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[float], SlowStart, hot_pool.HotPool]]:
    clock = [0.0]
    monkeypatch.setattr(hot_pool, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    compiled = SlowStart(clock, start_s=0.25)
    yield clock, compiled, hot_pool.HotPool(compiled, min_hot=0, max_hot=1)  # type: ignore[arg-type]


def test_the_wait_a_cold_start_and_the_call_spend_one_time_limit(
    slow_start: tuple[list[float], SlowStart, hot_pool.HotPool],
) -> None:
    """max_execution_ms is wall-clock per request: a start function or a queue must not add to it."""
    clock, compiled, pool = slow_start
    deadline = clock[0] + 1.0  # spec(): max_execution_ms = 1000, counted from the hand-off
    clock[0] += 0.125  # waited for a guest thread
    pool.invoke(REQUEST, request_id="cold", deadline=deadline)
    pool.invoke(REQUEST, request_id="warm")  # no deadline from the caller: the limit starts now
    assert compiled.deadlines == [("instantiate", 875), ("cold", 625), ("warm", None)]  # None: its own limit


def test_a_request_whose_limit_ran_out_waiting_answers_timeout_without_running(
    slow_start: tuple[list[float], SlowStart, hot_pool.HotPool],
) -> None:
    clock, compiled, pool = slow_start
    with pytest.raises(InvokeError) as info:
        pool.invoke(REQUEST, request_id="late", deadline=clock[0] - 0.001)
    assert info.value.code == "timeout"
    assert compiled.deadlines == []


def test_without_a_callers_deadline_the_limit_starts_with_the_call_cold_start_included(
    slow_start: tuple[list[float], SlowStart, hot_pool.HotPool],
) -> None:
    _, compiled, pool = slow_start
    pool.invoke(REQUEST, request_id="inline")
    assert compiled.deadlines == [("instantiate", 1000), ("inline", 750)]


COUNTER = bytes(wasmtime.wat2wasm((REPO / "tests/guests/counter.wat").read_text()))
POST = GuestRequest(method="POST", uri="/", headers=[], body=b"")


def fresh_spec(name: str = "t.fresh") -> FunctionSpec:
    return FunctionSpec(
        function_id=name, version=1, memory_pages=16, max_execution_ms=1000, fresh_instance=True
    )


def refilled(pool: hot_pool.HotPool, ready: int, created: int) -> None:
    """Waits until the refill thread made `created` instances in all and `ready` are idle (the
    refill runs off the request path; this waits for it, it does not time it)."""
    wait_until(lambda: len(pool._idle) == ready and pool.created == created, what="the ready set refilled")


def test_an_instance_that_serves_once_answers_one_request_and_is_destroyed(registry: PoolRegistry) -> None:
    pool = registry(fresh_spec(), COUNTER, None, 1, 4)
    pool.warm()
    for n in range(3):
        (ready,) = pool._idle
        assert pool.invoke(REQUEST, request_id=str(n)).body == b"001"  # its first request, every time
        assert ready.broken and ready not in pool._idle  # destroyed, not returned
        refilled(pool, 1, 2 + n)
    assert (pool.reused, pool.evicted) == (3, 0)  # each served by an instance made ahead; none evicted


def test_the_same_guest_without_fresh_instance_keeps_its_state(registry: PoolRegistry) -> None:
    pool = registry(spec(), COUNTER, None, 1, 4)
    pool.warm()
    assert [pool.invoke(REQUEST, request_id=str(n)).body for n in range(3)] == [b"001", b"002", b"003"]
    assert pool.refiller is None


def test_min_hot_instances_are_kept_ready_ahead_and_refilled_after_each_take(registry: PoolRegistry) -> None:
    pool = registry(fresh_spec(), COUNTER, None, 3, 8)
    pool.warm()
    assert (len(pool._idle), pool.created) == (3, 3)
    for n in range(1, 4):
        pool.invoke(REQUEST, request_id=str(n))
        refilled(pool, 3, 3 + n)  # one made ahead per request, never more than min_hot ready
    assert pool.reused == 3 and pool.size == 3


@pytest.mark.parametrize(("min_hot", "max_hot", "ahead"), [(0, 4, 1), (5, 2, 2), (2, 2, 2)])
def test_at_least_one_and_at_most_max_hot_instances_are_ready_ahead(
    registry: PoolRegistry, min_hot: int, max_hot: int, ahead: int
) -> None:
    pool = registry(fresh_spec(), COUNTER, None, min_hot, max_hot)
    pool.warm()
    assert len(pool._idle) == pool.created == ahead


def test_a_failure_destroys_the_instance_and_the_next_request_gets_a_fresh_one(
    registry: PoolRegistry,
) -> None:
    pool = registry(fresh_spec(), COUNTER, None, 1, 4)
    pool.warm()
    with pytest.raises(InvokeError) as info:
        pool.invoke(POST, request_id="boom")
    assert info.value.code == "trap"
    refilled(pool, 1, 2)
    assert pool.invoke(REQUEST, request_id="after").body == b"001"


def test_requests_beyond_the_ready_set_make_their_own_instances_and_none_is_kept(
    registry: PoolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = registry(fresh_spec(), COUNTER, None, 1, 2)
    pool.warm()
    monkeypatch.setattr(pool, "warm", lambda: None)  # the refill thread makes nothing more
    bodies = [pool.invoke(REQUEST, request_id=str(n)).body for n in range(3)]
    assert bodies == [b"001"] * 3
    assert (pool.reused, pool.created, pool.size) == (1, 3, 0)  # the ready one, then one per request


def test_closing_the_pool_ends_its_refill_thread_and_destroys_the_ready_instances(
    registry: PoolRegistry,
) -> None:
    pool = registry(fresh_spec(), COUNTER, None, 2, 4)
    pool.warm()
    ready = list(pool._idle)
    assert pool.refiller is not None and pool.refiller.is_alive()
    registry.discard(pool)
    pool.refiller.join(10)
    assert not pool.refiller.is_alive()
    assert all(i.broken for i in ready) and pool.size == 0


@pytest.mark.parametrize(
    ("fresh_instance", "recognised", "once"),
    [(False, False, False), (True, False, True), (False, True, True)],
)
def test_a_pool_serves_once_when_the_function_says_so_or_its_toolchain_is_recognised(
    fresh_instance: bool, recognised: bool, once: bool
) -> None:
    seen: list[bytes] = []

    def recognise(_spec: FunctionSpec, wasm: bytes) -> bool:
        seen.append(wasm)
        return recognised

    registry = PoolRegistry([], idle_timeout_s=10.0, pressure_percent=80.0, recognise=recognise)
    function = FunctionSpec(
        function_id="t.c", version=1, memory_pages=16, max_execution_ms=1000, fresh_instance=fresh_instance
    )
    pool = registry(function, COUNTER, None, 1, 4)
    try:
        assert pool.serves_once is once
        assert seen == ([] if fresh_instance else [COUNTER])  # the deployed bytes; not asked when set
    finally:
        registry.discard(pool)


def test_pool_size_reports_never_overtake_each_other() -> None:
    """A refill thread and a request's thread report the same function's size at nearly the same
    time; one at a time, the report counted last is the one the gauge keeps."""
    reports: list[int] = []
    second = threading.Event()
    overtaken: list[bool] = []

    def on_size(_function_id: str, size: int) -> None:
        reports.append(size)
        if len(reports) == 1:
            overtaken.append(second.wait(0.5))  # a second report entering now would land first
        else:
            second.set()

    registry = PoolRegistry([], idle_timeout_s=10.0, pressure_percent=80.0, on_size=on_size)
    pool = registry(spec(), WASM, None, 0, 4)
    first = threading.Thread(target=pool._changed)
    first.start()
    wait_until(lambda: reports, what="the first report")
    pool._changed()
    first.join(10)
    assert overtaken == [False] and len(reports) == 2
    registry.discard(pool)


def test_a_refill_that_cannot_instantiate_is_logged_and_a_later_take_refills(
    registry: PoolRegistry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pool = registry(fresh_spec(), COUNTER, None, 1, 4)
    pool.warm()
    working = pool.compiled.instantiate

    def failing(deadline_ms: int | None = None) -> Instance:
        raise InvokeError("trap", "the start function trapped")

    monkeypatch.setattr(pool.compiled, "instantiate", failing)
    assert pool.invoke(REQUEST, request_id="ready").body == b"001"  # made ahead at deploy
    wait_until(lambda: "no instance ready ahead: the start function trapped" in caplog.text, what="the log")
    with pytest.raises(InvokeError):
        pool.invoke(REQUEST, request_id="cold")  # nothing ready: it instantiates itself, and fails
    monkeypatch.setattr(pool.compiled, "instantiate", working)
    assert pool.invoke(REQUEST, request_id="again").body == b"001"  # cold, and the refill thread lives on
    refilled(pool, 1, 3)  # the one made at deploy, the cold one, the one made ahead again
