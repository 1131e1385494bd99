from __future__ import annotations

import pytest
import wasmtime

from edgehost.runtime import ValidationError, validate_module, wasm_from_source

from .conftest import guest_wasm

HOST = ("edgefn.log", "edgefn.http_fetch")
ALLOC = '(func (export "edgefn_alloc") (param i32) (result i32) (i32.const 0))'
HANDLE = '(func (export "handle") (param i32 i32) (result i64) (i64.const 0))'
MEMORY = '(memory (export "memory") 1)'


def wat(*items: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {' '.join(items)})"))


def refusal(wasm: bytes, *, memory_pages: int = 16, host_imports: tuple[str, ...] = HOST) -> str:
    with pytest.raises(ValidationError) as info:
        validate_module(wasm, entrypoint="handle", memory_pages=memory_pages, host_imports=host_imports)
    return info.value.message


def test_valid_module_report() -> None:
    report = validate_module(guest_wasm("echo"), entrypoint="handle", memory_pages=1, host_imports=HOST)
    assert report.initial_pages == 1
    assert {"memory", "edgefn_alloc", "handle", "edgefn_free"} <= set(report.exports)
    assert report.denied_wasi_imports == ()


def test_not_wasm_and_wat_text_refused() -> None:
    assert "not a WebAssembly binary" in refusal(b"hello")
    assert "not a WebAssembly binary" in refusal(f"(module {MEMORY} {ALLOC} {HANDLE})".encode())


def test_missing_memory() -> None:
    assert "export its linear memory" in refusal(wat("(memory 1)", ALLOC, HANDLE))


def test_missing_alloc() -> None:
    assert "edgefn_alloc (i32) -> (i32)" in refusal(wat(MEMORY, HANDLE))


def test_missing_entrypoint() -> None:
    assert "export a function handle" in refusal(wat(MEMORY, ALLOC))


def test_wrong_entrypoint_type() -> None:
    bad = '(func (export "handle") (param i32) (result i32) (i32.const 0))'
    assert "handle must be a function (i32, i32) -> (i64)" in refusal(wat(MEMORY, ALLOC, bad))


def test_wrong_free_type() -> None:
    bad = '(func (export "edgefn_free") (param i32))'
    assert "edgefn_free" in refusal(wat(MEMORY, ALLOC, HANDLE, bad))


def test_unknown_host_import_named_with_allowed_list() -> None:
    message = refusal(wat('(import "edgefn" "nope" (func))', MEMORY, ALLOC, HANDLE))
    assert message == (
        "the module imports edgefn.nope, which the runner does not provide; "
        "allowed: edgefn.http_fetch, edgefn.log"
    )


def test_foreign_module_import_refused() -> None:
    assert "env.abort" in refusal(wat('(import "env" "abort" (func))', MEMORY, ALLOC, HANDLE))


def test_initial_memory_over_limit() -> None:
    message = refusal(wat('(memory (export "memory") 17)', ALLOC, HANDLE), memory_pages=16)
    assert "17 memory pages" in message and "allows 16" in message


@pytest.mark.parametrize("pages", [0, 32769])
def test_memory_pages_bounds(pages: int) -> None:
    assert "between 1 and 32768" in refusal(wat(MEMORY, ALLOC, HANDLE), memory_pages=pages)


def test_denied_wasi_import_recorded_not_refused() -> None:
    report = validate_module(guest_wasm("wasi"), entrypoint="stdout", memory_pages=1, host_imports=HOST)
    assert report.denied_wasi_imports == (
        "wasi_snapshot_preview1.path_open",
        "wasi_snapshot_preview1.sock_accept",
    )
    assert "wasi_snapshot_preview1.fd_write" in report.imports


def test_third_party_import_needs_host_imports() -> None:
    wasm = guest_wasm("add_one")
    assert "edgefn.add_one" in refusal(wasm)
    report = validate_module(
        wasm, entrypoint="handle", memory_pages=1, host_imports=(*HOST, "edgefn.add_one")
    )
    assert report.imports == ("edgefn.add_one",)


def test_bad_wat_source_is_a_sentence() -> None:
    with pytest.raises(ValidationError) as info:
        wasm_from_source(b"(module (func (export", "broken.wat")
    assert info.value.message.startswith("broken.wat is not valid WebAssembly text")


def test_wasm_source_passthrough() -> None:
    assert wasm_from_source(b"\0asm\1\0\0\0", "f.wasm") == b"\0asm\1\0\0\0"
