"""Direct calls into wasmtime's C API for the per-request path.

`Func.__call__` reflects on the function type and boxes every value on each
call (~60 µs). Here each export gets its handle, a preallocated
`wasmtime_val_raw_t` array and the store context resolved once, and calls go
straight to `wasmtime_func_call_unchecked` (~2-3 µs). Fresh function pointers
(`dll[name]`) let us declare `c_void_p` signatures and pass plain integers
without touching the shared wasmtime-py prototypes.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import c_size_t, c_uint8, c_uint64, c_void_p
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .errors import InvokeError
from .trap_text import one_line

# Calls through `ffi.dll` release the GIL; through `_held` they keep it. Every release is a chance
# for another thread to take the GIL and a wait to get it back, which under load cost more than
# the short accessors themselves. Calls that run guest code release it unless the calling thread
# asked to keep it (`keep_gil_during_guest_calls`): a guest on a guest thread runs beside the
# event loop, which needs the GIL meanwhile.
_held = ctypes.PyDLL(ffi.dll._name, handle=ffi.dll._handle)


def c_function(name: str, restype: type | None, *argtypes: type, runs_guest: bool = False) -> Any:
    """A fresh prototype of a wasmtime C function taking plain integers (`c_void_p`); it keeps the
    GIL unless it `runs_guest`."""
    fn = (ffi.dll if runs_guest else _held)[name]
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_CALL_ARGS = (c_void_p, c_void_p, c_void_p, c_size_t, c_void_p)
_call_releasing = c_function("wasmtime_func_call_unchecked", c_void_p, *_CALL_ARGS, runs_guest=True)
_call_keeping = c_function("wasmtime_func_call_unchecked", c_void_p, *_CALL_ARGS)


class _GuestCallPolicy(threading.local):
    keeps_gil = False  # per thread; see keep_gil_during_guest_calls


_policy = _GuestCallPolicy()


def keep_gil_during_guest_calls() -> None:
    """Guest calls made on this thread from now on keep the GIL. Only safe where nothing that
    must run meanwhile needs it: the epoch must advance without Python (engine.keep_gil_on_this_thread)."""
    _policy.keeps_gil = True


_memory_data = c_function("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
_memory_size = c_function("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)
set_epoch_deadline = c_function("wasmtime_context_set_epoch_deadline", None, c_void_p, c_uint64)
# An atomic add in the engine: with the GIL held, a ticker catching up after a stall adds every
# missed tick in one go instead of waiting for the GIL again after each.
increment_epoch = c_function("wasmtime_engine_increment_epoch", None, c_void_p)
_trap_code = c_function("wasmtime_trap_code", ctypes.c_bool, c_void_p, c_void_p)
_trap_new = c_function("wasmtime_trap_new", c_void_p, ctypes.c_char_p, c_size_t)
_export_get = c_function(
    "wasmtime_instance_export_get", ctypes.c_bool, c_void_p, c_void_p, ctypes.c_char_p, c_size_t, c_void_p
)

_INTERRUPT = ffi.wasmtime_trap_code_enum.WASMTIME_TRAP_CODE_INTERRUPT.value
_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
_ValRaw = ffi.wasmtime_val_raw_t


class OutOfBounds(Exception):
    """A guest-supplied (ptr, len) does not lie inside linear memory."""


def context_address(store: wasmtime.Store | wasmtime.Caller) -> int:
    address = ctypes.cast(store._context(), c_void_p).value
    assert address is not None
    return address


class Exports:
    """One instance's exports by name, as the raw handles `RawFunc` and `GuestMemory` take.

    wasmtime-py's lookup wraps each export in a Python object (~7 µs, a tenth of a cold
    start for the five an instantiation needs); the raw lookup costs a third of that.
    """

    __slots__ = ("_address", "_context", "_instance")

    def __init__(self, context: int, instance: wasmtime.Instance) -> None:
        self._context = context
        self._instance = instance  # owns the handle's bytes
        self._address = ctypes.addressof(instance._instance)

    def _get(self, name: str, kind: int, what: str) -> Any:
        item = ffi.wasmtime_extern_t()
        raw = name.encode()
        if not _export_get(self._context, self._address, raw, len(raw), ctypes.addressof(item)):
            return None
        if item.kind != kind:
            raise LookupError(f"the export {name} is not a {what}")
        return item.of.func if kind == _FUNC else item.of.memory

    def func(self, name: str) -> Any:
        """The function's `wasmtime_func_t`, or None when there is no such export."""
        return self._get(name, _FUNC, "function")

    def memory(self, name: str) -> Any:
        """The memory's `wasmtime_memory_t`, or None when there is no such export."""
        return self._get(name, _MEMORY, "memory")


def new_trap(message: str) -> int:
    """A trap a host callback returns to wasmtime, which takes ownership."""
    raw = message.encode()
    address = _trap_new(raw, len(raw))
    assert address is not None
    return int(address)


def trap_failure(trap: int) -> InvokeError:
    code = c_uint8(0)
    is_interrupt = _trap_code(trap, ctypes.byref(code)) and code.value == _INTERRUPT
    message = wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t))).message
    if is_interrupt:
        return InvokeError("timeout", "the guest ran past its time limit")
    return InvokeError("trap", f"the guest trapped: {one_line(message or '')}")


def _error_failure(error: int) -> InvokeError:
    err = wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))
    return InvokeError("trap", f"the guest call failed: {one_line(str(err))}")


class RawFunc:
    """One export bound to one store, callable without per-call reflection.

    Arguments go into `vals[i]` before `call()`; results come back in `vals[0]`. `func` is a
    `wasmtime_func_t`: from `Exports.func`, or `Func._func`.
    """

    __slots__ = ("_args", "_func", "_trap", "vals")

    def __init__(self, context: int, func: Any, slots: int) -> None:
        self._func = func
        self.vals = (_ValRaw * max(slots, 1))()
        self._trap = c_void_p()
        self._args = (
            context,
            ctypes.addressof(self._func),
            ctypes.addressof(self.vals),
            slots,
            ctypes.addressof(self._trap),
        )

    def call(self) -> None:
        """Run the export; raises InvokeError("timeout" | "trap")."""
        error = (_call_keeping if _policy.keeps_gil else _call_releasing)(*self._args)
        trap = self._trap.value
        if trap:
            self._trap.value = None
            raise trap_failure(trap)
        if error:
            raise _error_failure(error)


class GuestMemory:
    """Bounds-checked bulk copies in and out of one linear memory (a `wasmtime_memory_t`).

    Copies slice a memoryview of the whole linear memory instead of calling `string_at` /
    `memmove` through ctypes (a third of the cost). The view is rebuilt whenever the memory's
    size changed, which is the only time its mapping can move (memory.grow).
    """

    __slots__ = ("_args", "_memory", "_size", "_view")

    def __init__(self, context: int, memory: Any) -> None:
        self._memory = memory
        self._args = (context, ctypes.addressof(self._memory))
        self._size = -1
        self._view = memoryview(bytearray())

    def _span(self, ptr: int, size: int) -> memoryview:
        length = _memory_size(*self._args)
        if length != self._size:
            base = _memory_data(*self._args)
            array = (ctypes.c_ubyte * length).from_address(base) if length else bytearray()
            self._view, self._size = memoryview(array).cast("B"), length
        if ptr < 0 or size < 0 or ptr + size > length:
            raise OutOfBounds(f"[{ptr}, {ptr + size}) lies outside guest memory")
        return self._view[ptr : ptr + size]

    def size(self) -> int:
        """The linear memory's current size in bytes."""
        return int(_memory_size(*self._args))

    def read(self, ptr: int, size: int) -> bytes:
        return self._span(ptr, size).tobytes()

    def read_prefix(self, ptr: int, size: int, limit: int) -> bytes:
        """The first `limit` bytes of `[ptr, ptr + size)`, which must lie in memory as a whole."""
        return self._span(ptr, size)[: max(0, limit)].tobytes()

    def check(self, ptr: int, size: int) -> None:
        """Raises OutOfBounds unless `[ptr, ptr + size)` lies in memory; copies nothing."""
        self._span(ptr, size)

    def write(self, ptr: int, data: bytes) -> None:
        self._span(ptr, len(data))[:] = data
