"""Built-in plugin: the hot instance pool of each function version.

Idle instances are kept most-recently-used last: a request takes the warmest one, and
eviction (pool full, idle timeout, memory pressure) takes the coldest. A request arriving
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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import psutil

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    GuestRequest,
    GuestResponse,
    HostFunction,
    Instance,
    InvokeError,
)
from edgehost.settings import Percent, PositiveFloat, SettingsSection

log = logging.getLogger("edgefn.pool")


class PoolSettings(SettingsSection, frozen=True):
    """The `[pool]` table (docs/settings.md)."""

    idle_timeout_s: PositiveFloat = 300.0
    memory_pressure_percent: Percent = 80.0


@hookimpl
def edgehost_settings_sections() -> dict[str, type[SettingsSection]]:
    return {"pool": PoolSettings}


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
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        self.compiled = compiled
        self.spec: FunctionSpec = compiled.spec
        self.min_hot = min_hot
        self.max_hot = max(1, max_hot)
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
        """Creates `min_hot_instances` ready instances, so the first requests skip the cold path."""
        while len(self._idle) + self._busy < self.min_hot and not self._closed:
            instance = self._new()
            with self._lock:
                self._idle.append(instance)
        self._changed()

    def invoke(
        self, request: GuestRequest | bytes, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        """`max_execution_ms` is the request's wall-clock limit: the wait for a guest thread (when
        the caller's `deadline` says so), a cold start (its start function included) and the call
        all spend it, rather than each getting its own."""
        with self._lock:
            instance = self._idle.pop() if self._idle else None
            if instance is not None:
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
                if instance.broken or self._closed:
                    evict.append(instance)
                else:
                    self._idle.append(instance)
                    while self._idle and len(self._idle) + self._busy > self.max_hot:
                        evict.append(self._idle.popleft())
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
        for instance in dead:
            instance.close()
        if dead:
            self._changed()
        return len(dead)

    def evict_one(self) -> bool:
        with self._lock:
            instance = self._idle.popleft() if self._idle else None
            if instance is not None:
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
        on_size: Callable[[str, int], None] = lambda _function_id, _size: None,
    ):
        self.host_functions = tuple(host_functions)
        self.idle_timeout_s = idle_timeout_s
        self.pressure_percent = pressure_percent
        self.pools: set[HotPool] = set()
        self._on_size = on_size

    def __call__(
        self, spec: FunctionSpec, wasm: bytes, compiled_path: Path | None, min_hot: int, max_hot: int
    ) -> HotPool:
        compiled = CompiledFunction.load(
            spec, wasm, host_functions=self.host_functions, cache_path=compiled_path
        )
        pool = HotPool(compiled, min_hot=min_hot, max_hot=max_hot, on_change=self._notify)
        self.pools.add(pool)
        return pool

    def discard(self, pool: HotPool) -> None:
        self.pools.discard(pool)
        pool.close()

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
            await asyncio.to_thread(registry.relieve_pressure)
        except Exception:
            log.exception("pool maintenance failed")


@hookimpl
def edgehost_instance_pool(ctx: AppContext) -> PoolRegistry:
    host_functions = [fn for group in ctx.hook.edgehost_host_functions(ctx=ctx) for fn in group]
    settings = ctx.settings.section(PoolSettings)
    return PoolRegistry(
        host_functions,
        idle_timeout_s=settings.idle_timeout_s,
        pressure_percent=settings.memory_pressure_percent,
        on_size=lambda function_id, size: ctx.hook.edgehost_pool_size_changed(
            function_id=function_id, size=size
        ),
    )


@hookimpl
def edgehost_lifespan(role: str, ctx: AppContext) -> list[Callable[[Any], AbstractAsyncContextManager[None]]]:
    if role != "ingress":
        return []

    @contextlib.asynccontextmanager
    async def maintain(_app: Any) -> AsyncIterator[None]:
        registry = ctx.services["node"].pools
        task = asyncio.create_task(_maintain(registry))
        try:
            yield
        finally:
            task.cancel()

    return [maintain]
