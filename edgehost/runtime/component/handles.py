"""Host resources crossing into and out of a component, through the C API with plain integers.

wasmtime-py wraps each resource handle in two managed Python objects (`ResourceAny`,
`ResourceHost`) per crossing; a request handled with a dozen resources paid more for those than
for everything else. Here a handle is the address of a `wasmtime_component_resource_any_t`,
turned into the host's `rep` (its key in `ComponentState.table`) or made from one directly.
"""

from __future__ import annotations

import ctypes
from ctypes import c_bool, c_size_t, c_uint32, c_void_p

from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi

from ..errors import InvokeError
from ..fastcall import c_function

_any_to_host = c_function("wasmtime_component_resource_any_to_host", c_void_p, c_void_p, c_void_p, c_void_p)
_any_delete = c_function("wasmtime_component_resource_any_delete", None, c_void_p)
_host_new = c_function("wasmtime_component_resource_host_new", c_void_p, c_bool, c_uint32, c_uint32)
_host_rep = c_function("wasmtime_component_resource_host_rep", c_uint32, c_void_p)
_host_delete = c_function("wasmtime_component_resource_host_delete", None, c_void_p)
_host_to_any = c_function("wasmtime_component_resource_host_to_any", c_void_p, c_void_p, c_void_p, c_void_p)
add_func = c_function(
    "wasmtime_component_linker_instance_add_func",
    c_void_p,
    c_void_p,
    ctypes.c_char_p,
    c_size_t,
    c_void_p,
    c_void_p,
    c_void_p,
)
# A host function: (env, store context, function type, args, nargs, results, nresults) -> error.
CALLBACK = ctypes.CFUNCTYPE(c_size_t, c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)


def _raise(error: int, what: str) -> None:
    message = str(WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))))
    raise InvokeError("trap", f"{what}: {message}")


def rep_of(context: int, handle: int) -> int:
    """The rep of the host resource behind `handle` (a resource_any address, freed here)."""
    out = c_void_p()
    error = _any_to_host(context, handle, ctypes.byref(out))
    _any_delete(handle)
    if error:
        _raise(error, "the guest passed a handle the host did not create")
    rep = int(_host_rep(out))
    _host_delete(out)
    return rep


def new_handle(context: int, rep: int, type_id: int) -> int:
    """A new owned handle on host resource `rep` of host type `type_id`, as a resource_any address."""
    host = _host_new(True, rep, type_id)
    out = c_void_p()
    error = _host_to_any(context, host, ctypes.byref(out))
    _host_delete(host)
    if error:
        _raise(error, "the host could not hand out a resource")
    return int(out.value or 0)
