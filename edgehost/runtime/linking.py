"""Build the Linker for one module: host functions, the WASI whitelist, denied-WASI stubs.

The same Linker serves the runner and registration (`validate_module`), so a module the control
plane accepts links on every runner with the same host functions, and a refusal names the import.

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
from .errors import InvokeError, ValidationError
from .fastcall import OutOfBounds, new_trap
from .hostcalls import HostFunction, current_context

_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # a null function pointer
_Signature = tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]]
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
    # Anything else is the host function's own fault, not the guest's: `host_error`, not `trap`.
    return InvokeError("host_error", f"host function {fn.qualname} failed: {type(exc).__name__}: {exc}")


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
    """A Linker plus the ctypes callbacks it points at, which must outlive every instance.

    Raises ValidationError, naming the first import the Linker could not satisfy, before defining
    anything: an unknown name, a kind other than a function, or a signature other than the host's.
    """

    def __init__(
        self, engine: wasmtime.Engine, module: wasmtime.Module, host_functions: Sequence[HostFunction]
    ) -> None:
        provided = [*host_functions, *wasi.wasi_host_functions(), *_denied_stubs(module)]
        _check_imports(module, provided, host_functions)
        self.linker = wasmtime.Linker(engine)
        self._callbacks: list[Any] = []
        for fn in provided:
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
    """Stubs for the module's WASI imports outside the whitelist, in the types it declared, where a
    trampoline can carry them (i32/i64 values, at most one result; preview1 has no others)."""
    return [
        wasi.denied_stub(imp.name, imp.type)
        for imp in module.imports
        if imp.module == wasi.MODULE
        and imp.name is not None
        and imp.name not in wasi.ALLOWED
        and isinstance(imp.type, wasmtime.FuncType)
        and _linkable(imp.type)
    ]


def _linkable(ty: wasmtime.FuncType) -> bool:
    values = [*ty.params, *ty.results]
    return len(ty.results) <= 1 and all(int(ffi.wasm_valtype_kind(v.ptr())) in _KINDS for v in values)


def describe_signature(sig: _Signature) -> str:
    """`(i32, i32) -> (i64)`, the way registration errors write a function type."""
    params, results = sig
    return f"({', '.join(map(str, params))}) -> ({', '.join(map(str, results))})"


def _describe_import(ty: object) -> str:
    if isinstance(ty, wasmtime.FuncType):
        return f"a function {describe_signature((tuple(ty.params), tuple(ty.results)))}"
    if isinstance(ty, wasmtime.MemoryType):
        return "a memory"
    if isinstance(ty, wasmtime.TableType):
        return f"a table of {ty.element}"
    if isinstance(ty, wasmtime.GlobalType):
        return f"a{' mutable' if ty.mutable else ''} global {ty.content}"
    return f"a {type(ty).__name__}"  # a kind wasmtime-py adds later


def _check_imports(
    module: wasmtime.Module, provided: Sequence[HostFunction], host_functions: Sequence[HostFunction]
) -> None:
    """What instantiate_pre would refuse, as one sentence naming the import (module.name), the type
    the module declares and the one the runner provides; ABI v1, "Host functions" and "WASI"."""
    have: dict[tuple[str, str], _Signature] = {(f.module, f.name): (f.params, f.results) for f in provided}
    allowed = ", ".join(sorted({f.qualname for f in host_functions})) or "none"
    for imp in module.imports:
        qualname = f"{imp.module}.{imp.name}"
        declared = _describe_import(imp.type)
        expected = have.get((imp.module, imp.name or ""))
        if expected is None:
            if imp.module == wasi.MODULE and isinstance(imp.type, wasmtime.FuncType):
                raise ValidationError(
                    f"the module imports {qualname} as {declared}; WASI preview1 functions take and "
                    "return only i32 and i64 values, at most one result"
                )
            kind = "" if isinstance(imp.type, wasmtime.FuncType) else f" as {declared}"
            raise ValidationError(
                f"the module imports {qualname}{kind}, which the runner does not provide; allowed: {allowed}"
            )
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType) or (tuple(ty.params), tuple(ty.results)) != expected:
            raise ValidationError(
                f"the module imports {qualname} as {declared}, "
                f"but the runner provides a function {describe_signature(expected)}"
            )
