"""The hot pool of one function version (the `pooling` plugin's `PoolRegistry` keeps one per version).

Idle instances are kept most-recently-used last: a request takes the warmest one, and eviction
(pool full, idle timeout, memory pressure, the project over its share of hot memory) takes the
coldest. An instance is kept hot only within its project's share of the runner's hot memory
budget (edgehost/runner/hot_memory.py); past it, it is destroyed after its request. A request
arriving when every pooled instance is busy and the pool is at `max_hot_instances` is served by a
transient instance that is destroyed afterwards, rather than queueing behind a possibly slow
guest: instantiation of a precompiled module is far cheaper than any guest's deadline.

A pool whose instances serve once (`serves_once`: the function's `fresh_instance`, or a guest
whose toolchain cannot answer twice) never takes an instance back: each serves one request and
is destroyed, like a failed one. It keeps `min_hot_instances` (at least one) instantiated ahead
instead, and a background thread instantiates a replacement after each take, so a request finds
one ready rather than paying for the instantiation; a burst larger than the ready set creates its
instances on the request path, as an exhausted pool does.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from collections.abc import Callable

from edgehost.runner.hot_memory import HotMemoryBudget
from edgehost.runtime import (
    CompiledGuest,
    FunctionSpec,
    GuestInstance,
    GuestRequest,
    GuestResponse,
    InvokeError,
)
from edgehost.runtime.workers import NICE

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
        compiled: CompiledGuest,
        *,
        min_hot: int,
        max_hot: int,
        budget: HotMemoryBudget | None = None,
        on_change: Callable[[str, int], None] | None = None,
        serves_once: bool = False,
    ) -> None:
        """`serves_once`: destroy each instance after its request, keeping `min_hot` (at least
        one, at most `max_hot`) ready ahead; a thread refills them until `close`."""
        self.compiled = compiled
        self.spec: FunctionSpec = compiled.spec
        self.min_hot = min_hot
        self.max_hot = max(1, max_hot)
        self.serves_once = serves_once
        # Instances warming keeps: idle and busy alike, or ready ones only when a busy one never returns.
        self._ahead = min(max(1, min_hot), self.max_hot) if serves_once else min_hot
        self._budget = budget
        self._made_bytes = 0  # linear memory of the last instance warming made: what the next one needs
        self._charged: dict[int, int] = {}  # id(idle or warm instance) -> bytes held in the budget
        self.refused = 0  # instances not kept hot: the project's share was full
        self._idle: collections.deque[GuestInstance] = collections.deque()
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        self._on_change = on_change or (lambda _fid, _n: None)
        self.created = 0
        self.reused = 0
        self.evicted = 0
        self._taken = threading.Event()  # an instance left the ready set: refill it
        name = f"refill {self.spec.function_id}"
        self.refiller = threading.Thread(target=self._refill, name=name, daemon=True) if serves_once else None
        if self.refiller is not None:
            self.refiller.start()

    @property
    def size(self) -> int:
        return len(self._idle) + self._busy

    @property
    def idle_since(self) -> float | None:
        with self._lock:
            return self._idle[0].last_used if self._idle else None

    def _new(self, deadline_ms: int | None = None) -> GuestInstance:
        instance = self.compiled.instantiate(deadline_ms)
        with self._lock:
            self.created += 1
        return instance

    def _short(self) -> bool:
        kept = len(self._idle) if self.serves_once else len(self._idle) + self._busy
        return kept < self._ahead

    def warm(self) -> None:
        """Creates `min_hot_instances` ready instances, so the first requests skip the cold path;
        fewer if the project's share of hot memory runs out first. Raises `InvokeError` when
        an instance cannot start (its start function trapped or ran out of time)."""
        while self._short() and not self._closed:
            # Once one was made (so its start function ran, and a guest that cannot start is
            # reported at deploy), one the share has no room for is not made, rather than destroyed.
            if (
                self._made_bytes
                and self._budget is not None
                and not self._budget.fits(self.spec.project, self._made_bytes)
            ):
                with self._lock:
                    self._refuse()
                break
            instance = self._new()
            self._made_bytes = instance.memory_bytes
            with self._lock:
                kept = not self._closed and self._keep(instance)
                if kept:
                    self._idle.append(instance)
            if not kept:
                instance.close()
                break
        self._changed()

    def _refill(self) -> None:
        """Instantiates ahead after each take of a pool whose instances serve once, off the
        request path and below the event loop's priority (as guest threads), until `close`."""
        os.nice(NICE)  # this thread only (Linux)
        while True:
            self._taken.wait()
            self._taken.clear()
            if self._closed:
                return
            try:
                self.warm()
            except InvokeError as exc:  # requests instantiate their own until a later take refills
                log.warning("%s: no instance ready ahead: %s", self.spec.function_id, exc.message)
            except Exception:
                log.exception("%s: no instance ready ahead", self.spec.function_id)

    def _keep(self, instance: GuestInstance) -> bool:
        """Charges an instance about to be kept hot to its project's budget; False past its share.
        Called with the lock held."""
        if self._budget is None:
            return True
        size = instance.memory_bytes
        if not self._budget.hold(self.spec.project, size):
            self._refuse()
            return False
        self._charged[id(instance)] = size
        return True

    def _refuse(self) -> None:
        """Counts an instance not kept hot (the first one logged); called with the lock held."""
        if not self.refused and self._budget is not None:
            log.warning(
                "project %s is at its share of hot memory (%d bytes); instances of %s are not kept hot",
                self.spec.project,
                self._budget.share(self.spec.project),
                self.spec.function_id,
            )
        self.refused += 1

    def _drop(self, instance: GuestInstance) -> None:
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
        if self.serves_once:
            self._taken.set()
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

    def _release(self, instance: GuestInstance | None) -> None:
        """Takes an instance back after its request; the common case (kept, the pool within
        `max_hot`) builds nothing and reports no change."""
        with self._lock:
            self._busy -= 1
            if instance is None:
                return
            if self.serves_once or instance.broken or self._closed or not self._keep(instance):
                evict = [instance]
            else:
                self._idle.append(instance)
                if len(self._idle) + self._busy <= self.max_hot:
                    return
                evict = self._over_max()
        for dead in evict:
            dead.close()
        self._changed()

    def _over_max(self) -> list[GuestInstance]:
        """Takes the coldest idle instances out until the pool is within `max_hot`; called with
        the lock held, with at least one idle instance."""
        evict = []
        while self._idle and len(self._idle) + self._busy > self.max_hot:
            evict.append(self._idle.popleft())
            self._drop(evict[-1])
            self.evicted += 1
        return evict

    def reap_idle(self, now: float, idle_timeout_s: float) -> int:
        """Destroys instances idle longer than the timeout; returns how many."""
        dead: list[GuestInstance] = []
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
            self._taken.set()  # ends the refill thread
            dead = list(self._idle)
            self._idle.clear()
            for instance in dead:
                self._drop(instance)
        for instance in dead:
            instance.close()
        self._changed()

    def _changed(self) -> None:
        self._on_change(self.spec.function_id, self.size)
