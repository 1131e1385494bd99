"""Registration-time checks, each failure one sentence the developer can act on.

`validate_module` is what the control plane runs before a version may become `ready`: the ABI's
module shape, then the runner's own Linker (`CompiledFunction.link`) and one instantiation in a
store with a runner's limits. So `ready` means a runner links and instantiates the module; only
the guest's own code (start function, `_initialize`, requests) is left to run there, never here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import wasmtime

from edgehost.limits import MAX_MEMORY_PAGES

from . import wasi
from .binary import sections
from .component.detect import is_component
from .component.validate import validate_component
from .errors import ValidationError
from .hostcalls import HostFunction
from .linking import describe_signature
from .module import CompiledFunction, compile_module
from .types import FunctionSpec, ModuleReport

I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()
_Sig = tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]]
_HEADER = 8  # b"\0asm" and the version
_START_SECTION = 8


def wasm_from_source(data: bytes, filename: str) -> bytes:
    if filename.endswith(".wasm"):
        return data
    if not filename.endswith(".wat"):
        raise ValidationError(f"{filename} must be a .wasm binary or a .wat text module")
    try:
        return bytes(wasmtime.wat2wasm(data))
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValidationError(f"{filename} is not valid WebAssembly text: {first}") from None


def _check_func(exports: Mapping[str, object], name: str, sig: _Sig, required: bool) -> None:
    ty = exports.get(name)
    if ty is None:
        if required:
            raise ValidationError(f"the module must export a function {name} {describe_signature(sig)}")
        return
    if not isinstance(ty, wasmtime.FuncType) or (tuple(ty.params), tuple(ty.results)) != sig:
        raise ValidationError(f"the export {name} must be a function {describe_signature(sig)}")


def _check_shape(module: wasmtime.Module, *, entrypoint: str, memory_pages: int) -> ModuleReport:
    """The exports ABI v1 requires ("Module shape") and an initial memory within memory_pages."""
    exports = {exp.name: exp.type for exp in module.exports}
    memory = exports.get("memory")
    if not isinstance(memory, wasmtime.MemoryType):
        raise ValidationError("the module must export its linear memory as memory")
    initial = memory.limits.min
    if initial > memory_pages:
        raise ValidationError(
            f"the module starts with {initial} memory pages but the function allows {memory_pages}; "
            f"raise memory_pages or link with a smaller initial memory"
        )
    _check_func(exports, "edgefn_alloc", ((I32,), (I32,)), required=True)
    _check_func(exports, entrypoint, ((I32, I32), (I64,)), required=True)
    _check_func(exports, "edgefn_free", ((I32, I32), ()), required=False)
    _check_func(exports, "_initialize", ((), ()), required=False)
    imports = tuple(f"{imp.module}.{imp.name}" for imp in module.imports)
    denied = tuple(
        f"{imp.module}.{imp.name}"
        for imp in module.imports
        if imp.module == wasi.MODULE and imp.name not in wasi.ALLOWED
    )
    return ModuleReport(initial, denied, imports, tuple(exports))


def without_start(wasm: bytes) -> bytes | None:
    """The module minus its start section (core spec 5.5.10), or None when it has none.

    Only for a module that compiled: its sections are well-formed. Nothing refers to the start
    section, so dropping it changes nothing else.
    """
    for section_id, start, _, end in sections(wasm, _HEADER, len(wasm)):
        if section_id == _START_SECTION:
            return wasm[:start] + wasm[end:]
    return None


def validate_module(
    wasm: bytes, spec: FunctionSpec, *, host_functions: Sequence[HostFunction]
) -> ModuleReport:
    """Refuses, with a ValidationError, any module a runner with `host_functions` would not link
    and instantiate under `spec`'s limits (ABI v1, "Module shape", "Host functions", "Limits").
    A wasi:http component (recognised by its preamble) gets its own checks
    (component/validate.py); `host_functions` are for core modules only.

    The instantiation uses the module without its start function: a start function and
    `_initialize` are guest code, which runs on runners only (a trap or a time-out there answers
    500 `trap` or 504 `timeout`, as the ABI says), never on the control plane.
    """
    if not 1 <= spec.memory_pages <= MAX_MEMORY_PAGES:
        raise ValidationError(
            f"memory_pages must be between 1 and {MAX_MEMORY_PAGES}, not {spec.memory_pages}"
        )
    if is_component(wasm):
        return validate_component(wasm, spec)
    module, _ = compile_module(wasm)
    report = _check_shape(module, entrypoint=spec.entrypoint, memory_pages=spec.memory_pages)
    stripped = without_start(wasm)
    probe = module if stripped is None else compile_module(stripped)[0]
    CompiledFunction.link(spec, probe, host_functions=host_functions).check_store_limits()
    return report
