"""A function version compiled and linked once, instantiated many times."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi

from .codec import FieldsMemo
from .engine import arm_deadline, disarm_deadline, get_engine
from .errors import InvokeError, ValidationError
from .fastcall import Exports, RawFunc, context_address, set_epoch_deadline, trap_failure
from .hostcalls import DEFAULT_LIMITS, HostFunction, InvocationContext, OutputLimits, bind_context
from .instance import Instance
from .linking import LinkedFunctions
from .serialized import load_module
from .types import FunctionSpec

PAGE_SIZE = 65536
_MAX_TABLE_ELEMENTS = 100_000
_NO_TICKER_DEADLINE = 1 << 32  # epochs ahead: unreachable where no ticker advances the epoch
_WASM_MAGIC = b"\0asm"


def require_binary(wasm: bytes) -> None:
    """wasmtime would silently parse text too; the ABI accepts binaries only."""
    if not wasm.startswith(_WASM_MAGIC):
        raise ValidationError("the upload is not a WebAssembly binary (it lacks the \\0asm header)")


def compile_module(wasm: bytes, cache_path: Path | None = None) -> tuple[wasmtime.Module, bool]:
    """The compiled module (from the cache at `cache_path` when it holds this source) and whether it
    came from the cache; raises ValidationError with wasmtime's first line when it does not compile."""
    require_binary(wasm)
    try:
        return load_module(get_engine(), wasm, cache_path)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValidationError(f"the module is not valid WebAssembly: {first}") from None


class CompiledFunction:
    """Holds the compiled module, its Linker and InstancePre; safe to instantiate from many threads."""

    def __init__(
        self,
        spec: FunctionSpec,
        linked: LinkedFunctions,
        pre: wasmtime.InstancePre,
        *,
        from_cache: bool,
        limits: OutputLimits,
    ) -> None:
        self.spec = spec
        self.from_cache = from_cache
        self.limits = limits
        self._linked = linked  # keeps the host callbacks alive as long as any instance
        self._pre = pre
        self._fields = FieldsMemo()  # its instances' responses' fields (codec.FieldsMemo)
        # A module that imports nothing calls no host function, so its instances skip the context.
        self._calls_host = bool(pre.module.imports)

    @classmethod
    def load(
        cls,
        spec: FunctionSpec,
        wasm: bytes,
        *,
        host_functions: Sequence[HostFunction],
        cache_path: Path | None = None,
        limits: OutputLimits = DEFAULT_LIMITS,
    ) -> CompiledFunction:
        module, from_cache = compile_module(wasm, cache_path)
        return cls.link(
            spec,
            module,
            host_functions=host_functions,
            from_cache=from_cache,
            limits=limits,
        )

    @classmethod
    def link(
        cls,
        spec: FunctionSpec,
        module: wasmtime.Module,
        *,
        host_functions: Sequence[HostFunction],
        from_cache: bool = False,
        limits: OutputLimits = DEFAULT_LIMITS,
    ) -> CompiledFunction:
        """Links `module`; raises ValidationError naming the first import no host function satisfies."""
        linked = LinkedFunctions(get_engine(), module, host_functions)
        try:
            pre = linked.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:  # a case LinkedFunctions does not foresee: wasmtime's words
            chain = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise ValidationError(f"the module's imports cannot be linked: {chain}") from None
        return cls(spec, linked, pre, from_cache=from_cache, limits=limits)

    def _new_store(self) -> wasmtime.Store:
        store = wasmtime.Store(get_engine())
        store.set_limits(
            memory_size=self.spec.memory_pages * PAGE_SIZE,
            table_elements=_MAX_TABLE_ELEMENTS,
            instances=1,
            memories=1,
        )
        return store

    def _instantiate_raw(self, store: wasmtime.Store, context: int) -> wasmtime.Instance:
        """Instantiation proper: the store's limits, segment initialisation, and the start function."""
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
        return wasmtime.Instance._from_raw(raw)

    def _run_instantiation(self, store: wasmtime.Store, ms: int) -> wasmtime.Instance:
        context = context_address(store)
        arm_deadline(context, ms)
        try:
            instance = self._instantiate_raw(store, context)
            initialize = Exports(context, instance).func("_initialize")
            if initialize is not None:
                RawFunc(context, initialize, 0).call()
        finally:
            disarm_deadline()
        return instance

    def check_store_limits(self) -> None:
        """Instantiates once in a throwaway store with a runner's limits and closes it, calling no
        export; registration's proof that the module fits (memories, tables, data and element
        segments). The caller passes a module without a start function, so no guest code runs.

        Raises ValidationError with what wasmtime refused and the limits it was held to.
        """
        store = self._new_store()
        context = context_address(store)
        # Constant expressions (segment offsets) are compiled code with an epoch check: without a
        # deadline it would report a time-out. No ticker runs on a control plane, so the epoch
        # stays where it is and any deadline ahead of it holds; no guest code runs.
        set_epoch_deadline(context, _NO_TICKER_DEADLINE)
        try:
            self._instantiate_raw(store, context)
        except InvokeError as exc:
            if exc.code != "instantiate_failed":  # a trap while initialising a data or element segment
                raise ValidationError(f"the module could not be instantiated: {exc.message}") from None
            raise ValidationError(
                f"{exc.message} (a runner allows one memory of at most {self.spec.memory_pages} pages "
                f"and tables of at most {_MAX_TABLE_ELEMENTS} elements)"
            ) from None
        finally:
            store.close()

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
            return Instance(
                self.spec,
                store,
                instance,
                limits=self.limits,
                owner=self,
                fields=self._fields,
                calls_host=self._calls_host,
            )
        except LookupError as exc:
            raise InvokeError("instantiate_failed", str(exc)) from None
