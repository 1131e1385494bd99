"""Built-in plugin: the hot instance pools of the node (one `HotPool` per function version,
edgehost/plugins/hot_pool.py), their `[pool]` settings, idle reaping, node-wide eviction under
memory pressure, and their metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from edgehost.plugins.hot_pool import HotPool
from edgehost.runner.hot_memory import HotMemoryBudget
from edgehost.runner.node import NodeState
from edgehost.runtime import (
    FunctionSpec,
    HostFunction,
    OutputLimits,
    load_guest,
)
from edgehost.runtime.hostcalls import DEFAULT_LIMITS
from edgehost.settings import worker_count
from edgehost.settings_types import Percent, PositiveFloat, PositiveInt, SettingsSection
from edgehost.toolchains.recognize import COMPONENTIZE_JS, toolchain_of

log = logging.getLogger("edgefn.pool")


class PoolSettings(SettingsSection, frozen=True):
    """The `[pool]` table (docs/settings.md)."""

    idle_timeout_s: PositiveFloat = 300.0
    memory_pressure_percent: Percent = 80.0
    # A function's min_hot_instances and max_hot_instances are capped at this on every runner.
    max_hot_instances: PositiveInt = 64
    # Linear memory of hot (warm and idle) instances: the node's, and one project's most
    # (edgehost/runner/hot_memory.py).
    max_memory_bytes: PositiveInt = 2 * 1024**3
    project_memory_bytes: PositiveInt = 512 * 1024**2


@hookimpl
def edgehost_settings_sections() -> dict[str, type[SettingsSection]]:
    return {"pool": PoolSettings}


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
        recognise: Callable[[FunctionSpec, bytes], bool] = lambda _spec, _wasm: False,
    ):
        """`budget`: hot memory per project (None: unbounded); `max_hot_instances` caps every
        function's min_hot_instances and max_hot_instances (None: as deployed); `recognise`
        tells guests whose toolchain cannot answer twice on one instance (`serves_once`)."""
        self.host_functions = tuple(host_functions)
        self.limits = limits
        self.idle_timeout_s = idle_timeout_s
        self.pressure_percent = pressure_percent
        self.budget = budget
        self.max_hot_instances = max_hot_instances
        self.pools: set[HotPool] = set()
        self._on_size = on_size
        self._recognise = recognise
        self._notifying = threading.Lock()

    def serves_once(self, spec: FunctionSpec, wasm: bytes) -> bool:
        """Whether each instance of this version serves one request and is destroyed: its
        `fresh_instance` says so, or its toolchain is recognised as one that cannot answer twice."""
        return spec.fresh_instance or self._recognise(spec, wasm)

    def __call__(
        self, spec: FunctionSpec, wasm: bytes, compiled_path: Path | None, min_hot: int, max_hot: int
    ) -> HotPool:
        compiled = load_guest(
            spec, wasm, host_functions=self.host_functions, cache_path=compiled_path, limits=self.limits
        )
        if self.max_hot_instances is not None:
            min_hot, max_hot = min(min_hot, self.max_hot_instances), min(max_hot, self.max_hot_instances)
        pool = HotPool(
            compiled,
            min_hot=min_hot,
            max_hot=max_hot,
            budget=self.budget,
            on_change=self._notify,
            serves_once=self.serves_once(spec, wasm),
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
        """Reports the function's instances over all its live versions, not the last pool's; one
        report at a time, so one counted earlier (by a request's thread) never lands after one
        counted later (by a pool's refill thread)."""
        with self._notifying:
            self._on_size(
                function_id, sum(p.size for p in list(self.pools) if p.spec.function_id == function_id)
            )

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


# Toolchains whose guests cannot answer twice on one instance: componentize-js 0.19's engine fails
# a second request with "respondWith can't be called twice".
SERVES_ONCE_TOOLCHAINS = frozenset({COMPONENTIZE_JS})


@hookimpl
def edgehost_serves_once(spec: FunctionSpec, wasm: bytes) -> bool:
    """Guests built by a toolchain in SERVES_ONCE_TOOLCHAINS, recognised from their bytes."""
    return toolchain_of(wasm) in SERVES_ONCE_TOOLCHAINS


@hookimpl
def edgehost_instance_pool(ctx: AppContext) -> PoolFactory:
    host_functions = [fn for group in ctx.hook.edgehost_host_functions(ctx=ctx) for fn in group]
    settings = ctx.settings.section(PoolSettings)
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
        recognise=lambda spec, wasm: any(ctx.hook.edgehost_serves_once(spec=spec, wasm=wasm)),
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
        "edgefn_pool_reuses",
        "Invocations served by a hot instance (one made ahead, for a function whose instances serve once).",
        labels=by_version,
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
