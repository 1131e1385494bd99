from __future__ import annotations

from pathlib import Path

from edgehost.runtime import CompiledFunction, FunctionSpec, GuestRequest, builtin_host_functions

from .conftest import guest_wasm

SPEC = FunctionSpec("f", 3, memory_pages=16, max_execution_ms=50)
REQ = GuestRequest("GET", "/", [], b"")


def load(wasm: bytes, path: Path) -> CompiledFunction:
    return CompiledFunction.load(SPEC, wasm, host_functions=builtin_host_functions(), cache_path=path)


def test_compiled_module_reused(tmp_path: Path) -> None:
    path = tmp_path / "3.cwasm"
    assert not load(guest_wasm("echo"), path).from_cache
    reloaded = load(guest_wasm("echo"), path)
    assert reloaded.from_cache
    assert reloaded.instantiate().invoke(REQ, request_id="r").status == 200


def test_tampered_cache_ignored_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "3.cwasm"
    load(guest_wasm("echo"), path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not load(guest_wasm("echo"), path).from_cache
    assert load(guest_wasm("echo"), path).from_cache


def test_cache_for_other_source_ignored(tmp_path: Path) -> None:
    path = tmp_path / "3.cwasm"
    load(guest_wasm("echo"), path)
    compiled = load(guest_wasm("log"), path)
    assert not compiled.from_cache
    assert compiled.instantiate().invoke(REQ, request_id="r").status == 204
