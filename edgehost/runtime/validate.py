"""Registration-time checks, each failure one sentence the developer can act on."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import wasmtime

from . import wasi
from .engine import get_engine
from .errors import ValidationError

MAX_MEMORY_PAGES = 32768
_WASM_MAGIC = b"\0asm"
I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()
_Sig = tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]]


@dataclass(frozen=True)
class ModuleReport:
    initial_pages: int
    denied_wasi_imports: tuple[str, ...]
    imports: tuple[str, ...]
    exports: tuple[str, ...]


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


def _describe(sig: _Sig) -> str:
    params, results = sig
    return f"({', '.join(map(str, params))}) -> ({', '.join(map(str, results))})"


def _check_func(exports: Mapping[str, object], name: str, sig: _Sig, required: bool) -> None:
    ty = exports.get(name)
    if ty is None:
        if required:
            raise ValidationError(f"the module must export a function {name} {_describe(sig)}")
        return
    if not isinstance(ty, wasmtime.FuncType) or (tuple(ty.params), tuple(ty.results)) != sig:
        raise ValidationError(f"the export {name} must be a function {_describe(sig)}")


def require_binary(wasm: bytes) -> None:
    """wasmtime would silently parse text too; the ABI accepts binaries only."""
    if not wasm.startswith(_WASM_MAGIC):
        raise ValidationError("the upload is not a WebAssembly binary (it lacks the \\0asm header)")


def _compile(wasm: bytes) -> wasmtime.Module:
    require_binary(wasm)
    try:
        return wasmtime.Module(get_engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValidationError(f"the module is not valid WebAssembly: {first}") from None


def _check_imports(module: wasmtime.Module, host_imports: Collection[str]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    denied: list[str] = []
    allowed = ", ".join(sorted(host_imports)) or "none"
    for imp in module.imports:
        qualname = f"{imp.module}.{imp.name}"
        names.append(qualname)
        if not isinstance(imp.type, wasmtime.FuncType):
            raise ValidationError(
                f"the module imports {qualname}, which is not a function; import only functions"
            )
        if imp.module == wasi.MODULE:
            if imp.name not in wasi.ALLOWED:
                denied.append(qualname)
        elif imp.module != "edgefn" or qualname not in host_imports:
            raise ValidationError(
                f"the module imports {qualname}, which the runner does not provide; allowed: {allowed}"
            )
    return names, denied


def validate_module(
    wasm: bytes, *, entrypoint: str, memory_pages: int, host_imports: Collection[str]
) -> ModuleReport:
    if not 1 <= memory_pages <= MAX_MEMORY_PAGES:
        raise ValidationError(f"memory_pages must be between 1 and {MAX_MEMORY_PAGES}, not {memory_pages}")
    module = _compile(wasm)
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
    imports, denied = _check_imports(module, host_imports)
    return ModuleReport(initial, tuple(denied), tuple(imports), tuple(exports))
