"""Build the Linker for one module: host functions, the WASI whitelist, denied-WASI stubs.

Host functions are registered through `wasmtime_linker_define_func_unchecked`
with our own trampolines: arguments are read straight from the raw value array
and a failure is recorded on the invocation context (wasmtime-py's own
trampoline keeps it in a process-wide global, which threads would race on).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from . import wasi
from .errors import InvokeError
from .fastcall import OutOfBounds, new_trap
from .hostcalls import HostFunction, current_context

_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # a null function pointer
_KINDS = {
    ffi.WASM_I32.value: ("i32", 0xFFFFFFFF, 1 << 32),
    ffi.WASM_I64.value: ("i64", 0xFFFFFFFFFFFFFFFF, 1 << 64),
}


def _kind(ty: wasmtime.ValType, what: str) -> tuple[str, int, int]:
    kind = _KINDS.get(int(ffi.wasm_valtype_kind(ty.ptr())))
    if kind is None:
        raise ValueError(f"{what}: only i32 and i64 values are supported, not {ty}")
    return kind


def _as_failure(fn: HostFunction, exc: BaseException) -> InvokeError:
    if isinstance(exc, InvokeError):
        return exc
    if isinstance(exc, OutOfBounds):
        return InvokeError("trap", f"the guest passed {fn.qualname} a buffer outside its memory: {exc}")
    return InvokeError("trap", f"host function {fn.qualname} failed: {type(exc).__name__}: {exc}")


def make_trampoline(fn: HostFunction) -> Callable[..., int]:
    params = [(name, mask) for name, mask, _ in (_kind(t, fn.qualname) for t in fn.params)]
    result = _kind(fn.results[0], fn.qualname) if fn.results else None
    if len(fn.results) > 1:
        raise ValueError(f"{fn.qualname}: host functions return at most one value")
    call = fn.call

    def trampoline(env: int, caller_ptr: Any, vals: Any, nvals: int) -> int:
        caller = wasmtime.Caller(caller_ptr)
        ctx = None
        try:
            ctx = current_context()
            value = call(
                ctx, caller, *[getattr(vals[i], name) & mask for i, (name, mask) in enumerate(params)]
            )
            if result is not None:
                name, mask, wrap = result
                value &= mask
                setattr(vals[0], name, value - wrap if value > mask >> 1 else value)
            return 0
        except BaseException as exc:
            failure = _as_failure(fn, exc)
            if ctx is not None:
                ctx.fail(failure)
            return new_trap(failure.message)
        finally:
            caller._invalidate()

    return trampoline


class LinkedFunctions:
    """A Linker plus the ctypes callbacks it points at, which must outlive every instance."""

    def __init__(
        self, engine: wasmtime.Engine, module: wasmtime.Module, host_functions: Sequence[HostFunction]
    ) -> None:
        self.linker = wasmtime.Linker(engine)
        self._callbacks: list[Any] = []
        for fn in [*host_functions, *wasi.wasi_host_functions(), *_denied_stubs(module)]:
            self._define(fn)

    def _define(self, fn: HostFunction) -> None:
        callback = ffi.wasmtime_func_unchecked_callback_t(make_trampoline(fn))
        self._callbacks.append(callback)
        ty = wasmtime.FuncType(list(fn.params), list(fn.results))
        module, name = fn.module.encode(), fn.name.encode()
        error = ffi.wasmtime_linker_define_func_unchecked(
            self.linker.ptr(),
            ctypes.create_string_buffer(module),
            len(module),
            ctypes.create_string_buffer(name),
            len(name),
            ty.ptr(),
            callback,
            None,
            _NO_FINALIZER,
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)


def _denied_stubs(module: wasmtime.Module) -> list[HostFunction]:
    return [
        wasi.denied_stub(imp.name, imp.type)
        for imp in module.imports
        if imp.module == wasi.MODULE
        and imp.name is not None
        and imp.name not in wasi.ALLOWED
        and isinstance(imp.type, wasmtime.FuncType)
    ]
