"""Built-in plugin: the hot instance pool of each function version.

Idle instances are kept most-recently-used last: a request takes the warmest one, and
eviction (pool full, idle timeout, memory pressure, the project over its share of hot memory)
takes the coldest. An instance is kept hot only within its project's share of the runner's hot
memory budget (edgehost/runner/hot_memory.py); past it, it is destroyed after its request. A request arriving
when every pooled instance is busy and the pool is at `max_hot_instances` is served by a
transient instance that is destroyed afterwards, rather than queueing behind a possibly
slow guest: instantiation of a precompiled module is far cheaper than any guest's deadline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from edgehost.collectors import ScrapeTime, label_value
from edgehost.context import AppContext
from edgehost.contracts import InstancePool, PoolFactory
from edgehost.hookspecs import hookimpl
from edgehost.runner.hot_memory import HotMemoryBudget
from edgehost.runner.node import NodeState
from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    GuestRequest,
    GuestResponse,
    HostFunction,
    Instance,
    InvokeError,
    OutputLimits,
)
from edgehost.runtime.hostcalls import DEFAULT_LIMITS
from edgehost.settings import worker_count

log = logging.getLogger("edgefn.pool")


def _left_ms(deadline: float) -> int:
    """Milliseconds until `deadline` (rounded up, so a trap is never early); InvokeError once past."""
    left = math.ceil((deadline - time.monotonic()) * 1000)
    if left <= 0:
        raise InvokeError("timeout", "the request's time limit ran out before its guest could run")
    return left


class HotPool:
    """Instances of one function version; thread-safe, since guests run on worker threads."""

    def __init__(
        self,
        compiled: CompiledFunction,
        *,
        min_hot: int,
        max_hot: int,
        budget: HotMemoryBudget | None = None,
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        self.compiled = compiled
        self.spec: FunctionSpec = compiled.spec
        self.min_hot = min_hot
        self.max_hot = max(1, max_hot)
        self._budget = budget
        self._charged: dict[int, int] = {}  # id(idle or warm instance) -> bytes held in the budget
        self.refused = 0  # instances not kept hot: the project's share was full
        self._idle: collections.deque[Instance] = collections.deque()
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        self._on_change = on_change or (lambda _fid, _n: None)
        self.created = 0
        self.reused = 0
        self.evicted = 0

    @property
    def size(self) -> int:
        return len(self._idle) + self._busy

    @property
    def idle_since(self) -> float | None:
        with self._lock:
            return self._idle[0].last_used if self._idle else None

    def _new(self, deadline_ms: int | None = None) -> Instance:
        instance = self.compiled.instantiate(deadline_ms)
        with self._lock:
            self.created += 1
        return instance

    def warm(self) -> None:
        """Creates `min_hot_instances` ready instances, so the first requests skip the cold path;
        fewer if the project's share of hot memory runs out first."""
        while len(self._idle) + self._busy < self.min_hot and not self._closed:
            instance = self._new()
            with self._lock:
                kept = self._keep(instance)
                if kept:
                    self._idle.append(instance)
            if not kept:
                instance.close()
                break
        self._changed()

    def _keep(self, instance: Instance) -> bool:
        """Charges an instance about to be kept hot to its project's budget; False past its share.
        Called with the lock held."""
        if self._budget is None:
            return True
        size = instance.memory_bytes
        if not self._budget.hold(self.spec.project, size):
            if not self.refused:
                log.warning(
                    "project %s is at its share of hot memory (%d bytes); instances of %s are not kept hot",
                    self.spec.project,
                    self._budget.share(self.spec.project),
                    self.spec.function_id,
                )
            self.refused += 1
            return False
        self._charged[id(instance)] = size
        return True

    def _drop(self, instance: Instance) -> None:
        """Frees what a pooled instance held in the budget; called with the lock held."""
        size = self._charged.pop(id(instance), 0)
        if size and self._budget is not None:
            self._budget.free(self.spec.project, size)

    def invoke(
        self, request: GuestRequest | bytes, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        """`max_execution_ms` is the request's wall-clock limit: the wait for a guest thread (when
        the caller's `deadline` says so), a cold start (its start function included) and the call
        all spend it, rather than each getting its own. An idle instance leaves the hot memory
        budget while it serves, and is charged again at its size then when it returns."""
        with self._lock:
            instance = self._idle.pop() if self._idle else None
            if instance is not None:
                self._drop(instance)
                self.reused += 1
            self._busy += 1
        try:
            if instance is None:
                if deadline is None:
                    deadline = time.monotonic() + self.spec.max_execution_ms / 1000
                instance = self._new(_left_ms(deadline))
            if deadline is None:  # a warm instance and a limit that starts now: no clock to read
                return instance.invoke(request, request_id=request_id)
            return instance.invoke(request, request_id=request_id, deadline_ms=_left_ms(deadline))
        finally:
            self._release(instance)

    def _release(self, instance: Instance | None) -> None:
        evict: list[Instance] = []
        with self._lock:
            self._busy -= 1
            if instance is not None:
                if instance.broken or self._closed or not self._keep(instance):
                    evict.append(instance)
                else:
                    self._idle.append(instance)
                    while self._idle and len(self._idle) + self._busy > self.max_hot:
                        evict.append(self._idle.popleft())
                        self._drop(evict[-1])
                        self.evicted += 1
        for dead in evict:
            dead.close()
        if evict:
            self._changed()

    def reap_idle(self, now: float, idle_timeout_s: float) -> int:
        """Destroys instances idle longer than the timeout; returns how many."""
        dead: list[Instance] = []
        with self._lock:
            while self._idle and now - self._idle[0].last_used > idle_timeout_s:
                dead.append(self._idle.popleft())
                self._drop(dead[-1])
        for instance in dead:
            instance.close()
        if dead:
            self._changed()
        return len(dead)

    def evict_one(self) -> bool:
        with self._lock:
            instance = self._idle.popleft() if self._idle else None
            if instance is not None:
                self._drop(instance)
                self.evicted += 1
        if instance is None:
            return False
        instance.close()
        self._changed()
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            dead = list(self._idle)
            self._idle.clear()
            for instance in dead:
                self._drop(instance)
        for instance in dead:
            instance.close()
        self._changed()

    def _changed(self) -> None:
        self._on_change(self.spec.function_id, self.size)


class PoolRegistry:
    """Every live pool of the node, for idle reaping and node-wide LRU eviction under memory pressure."""

    def __init__(
        self,
        host_functions: Sequence[HostFunction],
        *,
        idle_timeout_s: float,
        pressure_percent: float,
        budget: HotMemoryBudget | None = None,
        max_hot_instances: int | None = None,
        limits: OutputLimits = DEFAULT_LIMITS,
        on_size: Callable[[str, int], None] = lambda _function_id, _size: None,
    ):
        """`budget`: hot memory per project (None: unbounded); `max_hot_instances` caps every
        function's min_hot_instances and max_hot_instances (None: as deployed)."""
        self.host_functions = tuple(host_functions)
        self.limits = limits
        self.idle_timeout_s = idle_timeout_s
        self.pressure_percent = pressure_percent
        self.budget = budget
        self.max_hot_instances = max_hot_instances
        self.pools: set[HotPool] = set()
        self._on_size = on_size

    def __call__(
        self, spec: FunctionSpec, wasm: bytes, compiled_path: Path | None, min_hot: int, max_hot: int
    ) -> HotPool:
        compiled = CompiledFunction.load(
            spec, wasm, host_functions=self.host_functions, cache_path=compiled_path, limits=self.limits
        )
        if self.max_hot_instances is not None:
            min_hot, max_hot = min(min_hot, self.max_hot_instances), min(max_hot, self.max_hot_instances)
        pool = HotPool(
            compiled, min_hot=min_hot, max_hot=max_hot, budget=self.budget, on_change=self._notify
        )
        if self.budget is not None:
            self.budget.add_pool(spec.project)
        self.pools.add(pool)
        return pool

    def discard(self, pool: InstancePool) -> None:
        if isinstance(pool, HotPool):
            if pool in self.pools and self.budget is not None:
                self.budget.remove_pool(pool.spec.project)
            self.pools.discard(pool)
        pool.close()

    def trim_to_shares(self) -> int:
        """Evicts the coldest idle instances of each project holding more than its share of hot
        memory (shares shrink as projects arrive); returns how many."""
        if self.budget is None:
            return 0
        evicted = 0
        for project in self.budget.over_share():
            while project in self.budget.over_share():
                candidates = [
                    (p.idle_since, id(p), p)
                    for p in list(self.pools)
                    if p.spec.project == project and p.idle_since is not None
                ]
                if not candidates or not min(candidates, key=lambda c: (c[0], c[1]))[2].evict_one():
                    break
                evicted += 1
        if evicted:
            log.info("hot memory shares: evicted %d hot instances of projects over their share", evicted)
        return evicted

    def _notify(self, function_id: str, _size: int) -> None:
        """Reports the function's instances over all its live versions, not the last pool's."""
        self._on_size(function_id, sum(p.size for p in list(self.pools) if p.spec.function_id == function_id))

    def reap(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        return sum(pool.reap_idle(now, self.idle_timeout_s) for pool in list(self.pools))

    def relieve_pressure(
        self, memory_percent: Callable[[], float] = lambda: psutil.virtual_memory().percent
    ) -> int:
        """Evicts the node's least recently used idle instances until memory use is under the threshold."""
        evicted = 0
        while memory_percent() > self.pressure_percent:
            candidates = [(p.idle_since, id(p), p) for p in self.pools if p.idle_since is not None]
            if not candidates:
                break
            _, _, coldest = min(candidates, key=lambda c: (c[0], c[1]))
            if not coldest.evict_one():
                break
            evicted += 1
        if evicted:
            log.warning("memory pressure: evicted %d hot instances", evicted)
        return evicted


async def _maintain(registry: PoolRegistry) -> None:
    period = max(0.05, min(5.0, registry.idle_timeout_s / 4))
    while True:
        await asyncio.sleep(period)
        try:
            await asyncio.to_thread(registry.reap)
            await asyncio.to_thread(registry.trim_to_shares)
            await asyncio.to_thread(registry.relieve_pressure)
        except Exception:
            log.exception("pool maintenance failed")


@hookimpl
def edgehost_instance_pool(ctx: AppContext) -> PoolFactory:
    host_functions = [fn for group in ctx.hook.edgehost_host_functions(ctx=ctx) for fn in group]
    settings = ctx.settings.pool
    processes = worker_count(ctx.settings)  # each ingress process has its pools: the budget is split
    return PoolRegistry(
        host_functions,
        idle_timeout_s=settings.idle_timeout_s,
        pressure_percent=settings.memory_pressure_percent,
        budget=HotMemoryBudget(
            max_bytes=settings.max_memory_bytes // processes,
            project_bytes=settings.project_memory_bytes // processes,
        ),
        max_hot_instances=settings.max_hot_instances,
        limits=OutputLimits(
            fetch_bytes=ctx.settings.runner.max_fetch_bytes,
            output_bytes=ctx.settings.runner.max_guest_output_bytes,
            header_bytes=ctx.settings.runner.max_response_header_bytes,
        ),
        on_size=lambda function_id, size: ctx.hook.edgehost_pool_size_changed(
            function_id=function_id, size=size
        ),
    )


@hookimpl
def edgehost_lifespan(
    listener: str, ctx: AppContext
) -> list[Callable[[Any], AbstractAsyncContextManager[None]]]:
    if listener != "ingress":
        return []

    @contextlib.asynccontextmanager
    async def maintain(_app: Any) -> AsyncIterator[None]:
        node = ctx.services.get(NodeState)
        if node is None or not isinstance(node.pools, PoolRegistry):  # another plugin's pools
            yield
            return
        task = asyncio.create_task(_maintain(node.pools))
        try:
            yield
        finally:
            task.cancel()

    return [maintain]


def _counters(node: NodeState) -> Iterator[Metric]:
    """Per live function version, the counters of its pool (when the pool is this plugin's); a
    function in a rollout has one pool per version it serves."""
    by_version = ["function_id", "version"]
    created = CounterMetricFamily(
        "edgefn_pool_instances_created", "Instances created per live function version.", labels=by_version
    )
    reused = CounterMetricFamily(
        "edgefn_pool_reuses", "Invocations served by a hot instance.", labels=by_version
    )
    evicted = CounterMetricFamily(
        "edgefn_pool_evictions", "Hot instances evicted (idle or memory pressure).", labels=by_version
    )
    refused = CounterMetricFamily(
        "edgefn_pool_hot_memory_refusals",
        "Instances not kept hot: their project held its share of the hot memory budget.",
        labels=by_version,
    )
    for live in node.snapshot.serving():
        pool = live.pool
        if isinstance(pool, HotPool):
            labels = [label_value(live.deployment.function_id), str(live.deployment.version)]
            created.add_metric(labels, pool.created)
            reused.add_metric(labels, pool.reused)
            evicted.add_metric(labels, pool.evicted)
            refused.add_metric(labels, pool.refused)
    yield from (created, reused, evicted, refused)


@hookimpl
def edgehost_metric_collectors(ctx: AppContext) -> list[Collector]:
    node = ctx.services.get(NodeState)
    return [ScrapeTime(lambda: _counters(node))] if node is not None else []
