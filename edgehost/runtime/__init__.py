"""WebAssembly guest runtime: validation, compilation, instances and host functions (ABI v1)."""

from .codec import decode_response, encode_request
from .engine import get_engine
from .errors import ERROR_CODES, InvokeError, ValidationError
from .guests import CompiledGuest, GuestInstance, load_guest
from .hostcalls import HostFunction, InvocationContext, OutputLimits, builtin_host_functions
from .instance import Instance
from .module import CompiledFunction
from .types import FunctionSpec, GuestRequest, GuestResponse, LogLine, ModuleReport
from .validate import validate_module, wasm_from_source

__all__ = [
    "ERROR_CODES",
    "CompiledFunction",
    "CompiledGuest",
    "FunctionSpec",
    "GuestInstance",
    "GuestRequest",
    "GuestResponse",
    "HostFunction",
    "Instance",
    "InvocationContext",
    "InvokeError",
    "LogLine",
    "ModuleReport",
    "OutputLimits",
    "ValidationError",
    "builtin_host_functions",
    "decode_response",
    "encode_request",
    "get_engine",
    "load_guest",
    "validate_module",
    "wasm_from_source",
]
