"""`validate_module`: what finalize refuses, one sentence each, and what it accepts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import wasmtime

from edgehost.runtime import (
    FunctionSpec,
    HostFunction,
    ModuleReport,
    ValidationError,
    builtin_host_functions,
    validate_module,
    wasm_from_source,
)
from edgehost.runtime.validate import without_start

from .conftest import guest_wasm

HOST = tuple(builtin_host_functions())
I32 = wasmtime.ValType.i32()
ADD_ONE = HostFunction("edgefn", "add_one", (I32,), (I32,), lambda ctx, caller, value: value + 1)
ALLOC = '(func (export "edgefn_alloc") (param i32) (result i32) (i32.const 0))'
HANDLE = '(func (export "handle") (param i32 i32) (result i64) (i64.const 0))'
MEMORY = '(memory (export "memory") 1)'
SHAPE = f"{MEMORY} {ALLOC} {HANDLE}"


def wat(*items: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {' '.join(items)})"))


def check(
    wasm: bytes, *, memory_pages: int = 16, entrypoint: str = "handle", host: Sequence[HostFunction] = HOST
) -> ModuleReport:
    spec = FunctionSpec("t.fn", 1, entrypoint=entrypoint, memory_pages=memory_pages, max_execution_ms=50)
    return validate_module(wasm, spec, host_functions=host)


def refusal(wasm: bytes, **kwargs: object) -> str:
    with pytest.raises(ValidationError) as info:
        check(wasm, **kwargs)  # type: ignore[arg-type]
    return info.value.message


def test_valid_module_report() -> None:
    report = check(guest_wasm("echo"), memory_pages=1)
    assert report.initial_pages == 1
    assert {"memory", "edgefn_alloc", "handle", "edgefn_free"} <= set(report.exports)
    assert report.denied_wasi_imports == ()


def test_not_wasm_and_wat_text_refused() -> None:
    assert "not a WebAssembly binary" in refusal(b"hello")
    assert "not a WebAssembly binary" in refusal(f"(module {SHAPE})".encode())


def test_invalid_binary_refused() -> None:
    assert refusal(b"\0asm\1\0\0\0\x99").startswith("the module is not valid WebAssembly: ")


def test_missing_memory() -> None:
    assert "export its linear memory" in refusal(wat("(memory 1)", ALLOC, HANDLE))


def test_missing_alloc() -> None:
    assert "edgefn_alloc (i32) -> (i32)" in refusal(wat(MEMORY, HANDLE))


def test_missing_entrypoint() -> None:
    assert "export a function handle" in refusal(wat(MEMORY, ALLOC))


def test_wrong_entrypoint_type() -> None:
    bad = '(func (export "handle") (param i32) (result i32) (i32.const 0))'
    assert "handle must be a function (i32, i32) -> (i64)" in refusal(wat(MEMORY, ALLOC, bad))


def test_entrypoint_of_another_kind() -> None:
    message = refusal(wat(MEMORY, ALLOC, '(global (export "handle") i32 (i32.const 0))'))
    assert message == "the export handle must be a function (i32, i32) -> (i64)"


def test_wrong_alloc_type() -> None:
    bad = '(func (export "edgefn_alloc") (param i64) (result i32) (i32.const 0))'
    assert "edgefn_alloc must be a function (i32) -> (i32)" in refusal(wat(MEMORY, bad, HANDLE))


def test_wrong_free_type() -> None:
    bad = '(func (export "edgefn_free") (param i32))'
    assert "edgefn_free" in refusal(wat(SHAPE, bad))


def test_unknown_host_import_named_with_allowed_list() -> None:
    message = refusal(wat('(import "edgefn" "nope" (func))', SHAPE))
    assert message == (
        "the module imports edgefn.nope, which the runner does not provide; "
        "allowed: edgefn.http_fetch, edgefn.log"
    )


def test_foreign_module_import_refused() -> None:
    assert "env.abort, which the runner does not provide" in refusal(
        wat('(import "env" "abort" (func))', SHAPE)
    )


# Imports the runner's Linker would refuse: each sentence names the import, what the module
# declares and what the runner provides.
@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            '(import "edgefn" "log" (func (param i32)))',
            "the module imports edgefn.log as a function (i32) -> (), "
            "but the runner provides a function (i32, i32, i32) -> ()",
        ),
        (
            '(import "edgefn" "log" (func (param i32 i32 i32) (result i32)))',
            "the module imports edgefn.log as a function (i32, i32, i32) -> (i32), "
            "but the runner provides a function (i32, i32, i32) -> ()",
        ),
        (
            '(import "edgefn" "http_fetch" (func (param i64 i64) (result i64)))',
            "the module imports edgefn.http_fetch as a function (i64, i64) -> (i64), "
            "but the runner provides a function (i32, i32) -> (i64)",
        ),
        (
            '(import "edgefn" "log" (memory 1))',
            "the module imports edgefn.log as a memory, "
            "but the runner provides a function (i32, i32, i32) -> ()",
        ),
        (
            '(import "edgefn" "log" (global i32))',
            "the module imports edgefn.log as a global i32, "
            "but the runner provides a function (i32, i32, i32) -> ()",
        ),
        (
            '(import "edgefn" "log" (table 1 funcref))',
            "the module imports edgefn.log as a table of funcref, "
            "but the runner provides a function (i32, i32, i32) -> ()",
        ),
        (
            '(import "env" "memory" (memory 1))',
            "the module imports env.memory as a memory, which the runner does not provide; "
            "allowed: edgefn.http_fetch, edgefn.log",
        ),
        (
            '(import "edgefn" "counter" (global (mut i32)))',
            "the module imports edgefn.counter as a mutable global i32, which the runner does not "
            "provide; allowed: edgefn.http_fetch, edgefn.log",
        ),
        (
            '(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))',
            "the module imports wasi_snapshot_preview1.fd_write as a function (i32) -> (i32), "
            "but the runner provides a function (i32, i32, i32, i32) -> (i32)",
        ),
        (
            '(import "wasi_snapshot_preview1" "path_open" (func (param f64) (result i32)))',
            "the module imports wasi_snapshot_preview1.path_open as a function (f64) -> (i32); "
            "WASI preview1 functions take and return only i32 and i64 values, at most one result",
        ),
        (
            '(import "wasi_snapshot_preview1" "sock_recv" (func (result i32 i32)))',
            "the module imports wasi_snapshot_preview1.sock_recv as a function () -> (i32, i32); "
            "WASI preview1 functions take and return only i32 and i64 values, at most one result",
        ),
        (
            '(import "wasi_snapshot_preview1" "memory" (memory 1))',
            "the module imports wasi_snapshot_preview1.memory as a memory, which the runner does not "
            "provide; allowed: edgefn.http_fetch, edgefn.log",
        ),
    ],
    ids=[
        "log-too-few-params",
        "log-with-result",
        "fetch-i64-params",
        "log-as-memory",
        "log-as-global",
        "log-as-table",
        "unknown-memory",
        "unknown-global",
        "wasi-whitelisted-wrong-type",
        "wasi-denied-float",
        "wasi-denied-two-results",
        "wasi-memory",
    ],
)
def test_an_import_the_linker_refuses_is_named_with_both_types(item: str, message: str) -> None:
    assert refusal(wat(item, SHAPE)) == message


def test_a_denied_wasi_import_of_any_integer_type_is_linked_to_its_stub() -> None:
    report = check(wat('(import "wasi_snapshot_preview1" "path_open" (func (param i64 i32)))', SHAPE))
    assert report.denied_wasi_imports == ("wasi_snapshot_preview1.path_open",)


def test_initial_memory_over_limit() -> None:
    message = refusal(wat('(memory (export "memory") 17)', ALLOC, HANDLE), memory_pages=16)
    assert "17 memory pages" in message and "allows 16" in message


@pytest.mark.parametrize("pages", [0, 32769])
def test_memory_pages_bounds(pages: int) -> None:
    assert "between 1 and 32768" in refusal(wat(SHAPE), memory_pages=pages)


# What the runner's store refuses at instantiation.
@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            ["(memory 1)"],
            "the module could not be instantiated: resource limit exceeded: memory count too high at 2 "
            "(a runner allows one memory of at most 16 pages and tables of at most 100000 elements)",
        ),
        (
            ["(table 100001 funcref)"],
            "the module could not be instantiated: table minimum size of 100001 elements exceeds table "
            "limits (a runner allows one memory of at most 16 pages and tables of at most 100000 elements)",
        ),
        (
            ['(data (i32.const 65536) "x")'],
            "the module could not be instantiated: the guest trapped: wasm trap: out of bounds memory access",
        ),
        (
            ["(table 1 funcref)", "(elem (i32.const 1) func 0)"],
            "the module could not be instantiated: the guest trapped: "
            "wasm trap: undefined element: out of bounds table access",
        ),
    ],
    ids=["two-memories", "huge-table", "data-outside-memory", "element-outside-table"],
)
def test_what_a_runner_store_refuses_is_refused(items: list[str], expected: str) -> None:
    assert refusal(wat(SHAPE, *items)) == expected


def test_tables_within_the_limit_pass() -> None:
    check(wat(SHAPE, "(table 100000 funcref)", "(table 2 externref)"))


def test_start_functions_are_not_run_at_registration() -> None:
    """A start function is guest code: it runs on runners (504 `timeout`, 500 `trap`), not here."""
    check(wat(SHAPE, "(func $boom unreachable)", "(start $boom)"))  # first: run, it would fail at once
    check(guest_wasm("start_loop"))
    log = '(import "edgefn" "log" (func $log (param i32 i32 i32)))'
    say = "(func $say (call $log (i32.const 0) (i32.const 0) (i32.const 1)))"
    check(wat(log, SHAPE, say, "(start $say)"))


def test_without_start_drops_only_the_start_section() -> None:
    plain = wat(SHAPE, "(func $s)")
    started = wat(SHAPE, "(func $s)", "(start $s)")
    assert without_start(plain) is None
    assert without_start(started) == plain


def test_denied_wasi_import_recorded_not_refused() -> None:
    report = check(guest_wasm("wasi"), memory_pages=1, entrypoint="stdout")
    assert report.denied_wasi_imports == (
        "wasi_snapshot_preview1.path_open",
        "wasi_snapshot_preview1.sock_accept",
    )
    assert "wasi_snapshot_preview1.fd_write" in report.imports


def test_third_party_import_needs_its_host_function() -> None:
    wasm = guest_wasm("add_one")
    assert "edgefn.add_one" in refusal(wasm)
    assert check(wasm, memory_pages=1, host=(*HOST, ADD_ONE)).imports == ("edgefn.add_one",)
    wrong = HostFunction("edgefn", "add_one", (I32, I32), (I32,), lambda ctx, caller, a, b: a + b)
    assert refusal(wasm, host=(*HOST, wrong)) == (
        "the module imports edgefn.add_one as a function (i32) -> (i32), "
        "but the runner provides a function (i32, i32) -> (i32)"
    )


def test_bad_wat_source_is_a_sentence() -> None:
    with pytest.raises(ValidationError) as info:
        wasm_from_source(b"(module (func (export", "broken.wat")
    assert info.value.message.startswith("broken.wat is not valid WebAssembly text")


def test_wasm_source_passthrough() -> None:
    assert wasm_from_source(b"\0asm\1\0\0\0", "f.wasm") == b"\0asm\1\0\0\0"
