"""A function version compiled and linked once, instantiated many times."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi

from .cache import load_module
from .engine import arm_deadline, get_engine
from .errors import InvokeError, ValidationError
from .fastcall import Exports, RawFunc, context_address, trap_failure
from .hostcalls import DEFAULT_MAX_FETCH_BYTES, HostFunction, InvocationContext, bind_context
from .instance import Instance
from .linking import LinkedFunctions
from .types import FunctionSpec
from .validate import require_binary

PAGE_SIZE = 65536
_MAX_TABLE_ELEMENTS = 100_000


class CompiledFunction:
    """Holds the compiled module, its Linker and InstancePre; safe to instantiate from many threads."""

    def __init__(
        self,
        spec: FunctionSpec,
        linked: LinkedFunctions,
        pre: wasmtime.InstancePre,
        *,
        from_cache: bool,
        max_fetch_bytes: int,
    ) -> None:
        self.spec = spec
        self.from_cache = from_cache
        self.max_fetch_bytes = max_fetch_bytes
        self._linked = linked  # keeps the host callbacks alive as long as any instance
        self._pre = pre

    @classmethod
    def load(
        cls,
        spec: FunctionSpec,
        wasm: bytes,
        *,
        host_functions: Sequence[HostFunction],
        cache_path: Path | None = None,
        max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES,
    ) -> CompiledFunction:
        require_binary(wasm)
        engine = get_engine()
        try:
            module, from_cache = load_module(engine, wasm, cache_path)
        except wasmtime.WasmtimeError as exc:
            raise ValidationError(f"the module does not compile: {str(exc).splitlines()[0]}") from None
        linked = LinkedFunctions(engine, module, host_functions)
        try:
            pre = linked.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise ValidationError(
                f"the module's imports cannot be linked: {str(exc).splitlines()[0]}"
            ) from None
        return cls(spec, linked, pre, from_cache=from_cache, max_fetch_bytes=max_fetch_bytes)

    def _new_store(self) -> wasmtime.Store:
        store = wasmtime.Store(get_engine())
        store.set_limits(
            memory_size=self.spec.memory_pages * PAGE_SIZE,
            table_elements=_MAX_TABLE_ELEMENTS,
            instances=1,
            memories=1,
        )
        return store

    def _run_instantiation(self, store: wasmtime.Store, ms: int) -> wasmtime.Instance:
        context = context_address(store)
        arm_deadline(context, ms)
        raw = ffi.wasmtime_instance_t()
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        error = ffi.wasmtime_instance_pre_instantiate(
            self._pre.ptr(), store._context(), ctypes.byref(raw), ctypes.byref(trap)
        )
        if trap:
            raise trap_failure(ctypes.cast(trap, ctypes.c_void_p).value or 0)
        if error:
            message = str(wasmtime.WasmtimeError._from_ptr(error)).splitlines()[0]
            raise InvokeError("instantiate_failed", f"the module could not be instantiated: {message}")
        instance = wasmtime.Instance._from_raw(raw)
        initialize = Exports(context, instance).func("_initialize")
        if initialize is not None:
            RawFunc(context, initialize, 0).call()
        return instance

    def instantiate(self, deadline_ms: int | None = None) -> Instance:
        """A fresh instance; start function and _initialize run under the request time limit, or
        what is left of it (`deadline_ms`)."""
        ms = self.spec.max_execution_ms if deadline_ms is None else deadline_ms
        store = self._new_store()
        ctx = InvocationContext(self.spec, "instantiate", time.monotonic() + ms / 1000)
        bind_context(ctx)
        try:
            instance = self._run_instantiation(store, ms)
        except InvokeError as exc:
            error = ctx.failure or exc
            error.logs = ctx.flush_streams()
            raise error from None
        finally:
            bind_context(None)
        try:
            return Instance(self, store, instance)
        except LookupError as exc:
            raise InvokeError("instantiate_failed", str(exc)) from None
