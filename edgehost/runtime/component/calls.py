"""Host functions as wasmtime component callbacks, with every type lookup done once per function.

wasmtime-py's own `LinkerInstance.add_func` trampoline reads the function type, builds its value
types and picks conversions on every call, and keeps a failure in a process-wide global that
threads race on. Here each imported function gets its own ctypes callback, built when the
component is linked from the type the component declares: the parameter and result types, and
the shape converters (values.py), are closed over. A failure is recorded on the instance's
invocation (`InvocationContext.fail`), so the runner answers with its code, and the guest sees a
trap.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import WasmtimeError
from wasmtime.component import FuncType

from ..errors import InvokeError
from .handles import CALLBACK
from .state import ComponentState, Handler, current_state
from .values import Val, reader, writer

_STRIDE = ctypes.sizeof(Val)


def as_failure(qualname: str, exc: BaseException) -> InvokeError:
    if isinstance(exc, InvokeError):
        return exc
    # The host function's own fault, not the guest's: `host_error`, as for core modules.
    return InvokeError("host_error", f"host function {qualname} failed: {type(exc).__name__}: {exc}")


def _error_pointer(message: str) -> int:
    return int(ctypes.cast(WasmtimeError(message)._consume(), ctypes.c_void_p).value or 0)


def make_callback(qualname: str, handler: Handler, fty: FuncType) -> Any:
    """The C callback running `handler(state, *args)` for the import `qualname` of type `fty`."""
    reads = [(reader(ty), i * _STRIDE) for i, (_, ty) in enumerate(fty.params)]
    result = fty.result
    write = writer(result) if result is not None else None
    at = Val.from_address

    def run(_env: int, context: int, _ty: int, args: int, nargs: int, results: int, _n: int) -> int:
        state = current_state()
        try:
            if state is None:
                raise InvokeError("trap", f"{qualname} ran outside any invocation")
            state.context = context
            value = handler(state, *[read(at(args + offset)) for read, offset in reads])
            if write is not None:
                write(context, value, at(results))
            return 0
        except BaseException as exc:
            failure = as_failure(qualname, exc)
            if state is not None and state.ctx is not None:
                state.ctx.fail(failure)
            return _error_pointer(failure.message)

    return CALLBACK(run)


def denied(qualname: str) -> Handler:
    """A stand-in for an import the runner links but does not allow (filesystem, sockets)."""

    def deny(state: ComponentState, *args: Any) -> None:
        raise InvokeError("capability_denied", f"the guest called {qualname}, which is not allowed")

    return deny
