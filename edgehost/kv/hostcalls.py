"""`edgefn.kv_get`, `kv_set` and `kv_delete`: the guest's view of its project's KV stores (docs/abi.md).

Return codes, checked in this order: -2 a pointer or length outside guest memory; -6 a store the
function's `kv` list does not name; -5 a key over 512 bytes or a value over `kv.max_value_bytes`
(nothing is copied out of the guest); then the store's answer: -1 absent (kv_get), -3 the store is
unavailable, -4 it did not answer in time, -7 the project's `kv.max_project_bytes` is full.

Each call blocks the guest's thread (the ingress runs functions with `kv` on guest threads, never
on its event loop) for at most the smaller of `kv.timeout_s` and what is left of the invocation's
deadline; that wait counts as `waited`, not as the guest's CPU time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import wasmtime

from edgehost.kv import MAX_KEY_BYTES, KvError, KvLimits, KvStore
from edgehost.runtime.fastcall import GuestMemory, OutOfBounds
from edgehost.runtime.hostcalls import I32, I64, GuestAllocFailed, HostFunction, InvocationContext

ABSENT, MALFORMED, TOO_LARGE, FORBIDDEN = -1, -2, -5, -6
_FAILED_LEVEL = 2  # warn: the developer should see a store failure in the invocation's log


def project_of(ctx: InvocationContext) -> str:
    """Function ids are `{project}.{function}` and neither name holds a dot (controlplane/registry.py)."""
    return ctx.spec.function_id.partition(".")[0]


class KvCalls:
    """The three host functions over one store (`store()` builds it on first use)."""

    def __init__(self, store: Callable[[], KvStore], limits: KvLimits) -> None:
        self._store = store
        self.limits = limits

    def host_functions(self) -> list[HostFunction]:
        return [
            HostFunction("edgefn", "kv_get", (I32, I32, I32, I32), (I64,), self.kv_get),
            HostFunction("edgefn", "kv_set", (I32,) * 6, (I32,), self.kv_set),
            HostFunction("edgefn", "kv_delete", (I32, I32, I32, I32), (I32,), self.kv_delete),
        ]

    def _granted(
        self, ctx: InvocationContext, memory: GuestMemory, ptr: int, size: int, *spans: tuple[int, int]
    ) -> str | int:
        """The store the guest named, if its function may use it and every (ptr, len) of the call
        lies in memory; else the code to return: MALFORMED (-2) first, then FORBIDDEN (-6)."""
        try:
            name = memory.read(ptr, min(size, 64)).decode("ascii", "replace")
            memory.check(ptr, size)
            for span in spans:
                memory.check(*span)
        except OutOfBounds:
            return MALFORMED
        return name if size <= 63 and name in ctx.spec.kv else FORBIDDEN

    def _run(self, ctx: InvocationContext, op: str, store: str, call: Callable[[float], object]) -> object:
        """Calls the store with the time left; a KvError becomes its code, logged for the developer."""
        started = time.perf_counter()
        try:
            return call(min(self.limits.timeout_s, ctx.remaining()))
        except KvError as exc:
            ctx.log(_FAILED_LEVEL, f"{op} on store {store!r} failed ({exc.code}): {exc}", "log")
            return exc.code
        finally:
            ctx.waited += time.perf_counter() - started

    def kv_get(
        self, ctx: InvocationContext, caller: wasmtime.Caller, sp: int, sl: int, kp: int, kl: int
    ) -> int:
        memory = ctx.memory(caller)
        store = self._granted(ctx, memory, sp, sl, (kp, kl))
        if isinstance(store, int):
            return store
        if kl > MAX_KEY_BYTES:
            return ABSENT  # no such key can have been stored
        key = memory.read(kp, kl)
        project = project_of(ctx)
        value = self._run(ctx, "kv_get", store, lambda t: self._store().get(project, store, key, t))
        if isinstance(value, int):
            return value
        if value is None:
            return ABSENT
        assert isinstance(value, bytes)
        try:
            return ctx.write_guest(caller, value)
        except GuestAllocFailed:
            return TOO_LARGE

    def kv_set(
        self,
        ctx: InvocationContext,
        caller: wasmtime.Caller,
        sp: int,
        sl: int,
        kp: int,
        kl: int,
        vp: int,
        vl: int,
    ) -> int:
        memory = ctx.memory(caller)
        store = self._granted(ctx, memory, sp, sl, (kp, kl), (vp, vl))
        if isinstance(store, int):
            return store
        if kl > MAX_KEY_BYTES or vl > self.limits.max_value_bytes:
            return TOO_LARGE
        key, value = memory.read(kp, kl), memory.read(vp, vl)
        project = project_of(ctx)
        result = self._run(ctx, "kv_set", store, lambda t: self._store().set(project, store, key, value, t))
        return result if isinstance(result, int) else 0

    def kv_delete(
        self, ctx: InvocationContext, caller: wasmtime.Caller, sp: int, sl: int, kp: int, kl: int
    ) -> int:
        memory = ctx.memory(caller)
        store = self._granted(ctx, memory, sp, sl, (kp, kl))
        if isinstance(store, int):
            return store
        if kl > MAX_KEY_BYTES:
            return 0  # no such key can have been stored
        key = memory.read(kp, kl)
        project = project_of(ctx)
        result = self._run(ctx, "kv_delete", store, lambda t: self._store().delete(project, store, key, t))
        return result if isinstance(result, int) else 0
