"""WebAssembly guest runtime: validation, compilation, instances and host functions (ABI v1)."""

from .codec import decode_response, encode_request
from .engine import get_engine
from .errors import ERROR_CODES, InvokeError, ValidationError
from .hostcalls import HostFunction, InvocationContext, OutputLimits, builtin_host_functions
from .instance import Instance
from .module import CompiledFunction
from .types import FunctionSpec, GuestRequest, GuestResponse, LogLine
from .validate import ModuleReport, validate_module, wasm_from_source

__all__ = [
    "ERROR_CODES",
    "CompiledFunction",
    "FunctionSpec",
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
    "validate_module",
    "wasm_from_source",
]
