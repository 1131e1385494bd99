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
from collections.abc import Callable
from typing import Any

from wasmtime import StoreContext, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import FuncType

from ..errors import InvokeError
from .state import ComponentState, current_state
from .values import lifting, lowering

Handler = Callable[..., Any]
NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # a null function pointer


def as_failure(qualname: str, exc: BaseException) -> InvokeError:
    if isinstance(exc, InvokeError):
        return exc
    # The host function's own fault, not the guest's: `host_error`, as for core modules.
    return InvokeError("host_error", f"host function {qualname} failed: {type(exc).__name__}: {exc}")


def _error_pointer(message: str) -> int:
    return int(ctypes.cast(WasmtimeError(message)._consume(), ctypes.c_void_p).value or 0)


def make_callback(qualname: str, handler: Handler, fty: FuncType) -> Any:
    """The C callback running `handler(state, *args)` for the import `qualname` of type `fty`."""
    params = [ty for _, ty in fty.params]
    lifts = [lifting(ty) for ty in params]
    result = fty.result
    lower = lowering(result)
    count = len(params)

    def run(_env: int, context: Any, _ty: Any, args: Any, nargs: int, results: Any, _n: int) -> int:
        state = current_state()
        store = StoreContext(context)
        try:
            if state is None:
                raise InvokeError("trap", f"{qualname} ran outside any invocation")
            state.store = store
            values = [params[i].convert_from_c(args[i]) for i in range(count)]
            for i, lift in enumerate(lifts):
                if lift is not None:
                    values[i] = lift(values[i])
            value = handler(state, *values)
            if result is not None:
                result.convert_to_c(store, lower(value) if lower is not None else value, results)
            return 0
        except BaseException as exc:
            failure = as_failure(qualname, exc)
            if state is not None and state.ctx is not None:
                state.ctx.fail(failure)
            return _error_pointer(failure.message)
        finally:
            store._invalidate()
            if state is not None:
                state.store = None

    return ffi.wasmtime_component_func_callback_t(run)


def denied(qualname: str) -> Handler:
    """A stand-in for an import the runner links but does not allow (filesystem, sockets)."""

    def deny(state: ComponentState, *args: Any) -> None:
        raise InvokeError("capability_denied", f"the guest called {qualname}, which is not allowed")

    return deny
