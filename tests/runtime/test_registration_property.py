"""Property: finalize's check accepts exactly the modules a runner links and instantiates.

Random modules (imports of every kind and signature, extra memories, tables, data segments, initial
memory against memory_pages) go through `validate_module` and through the runner's own path,
`CompiledFunction.load(...).instantiate()`, with registration's import pre-check switched off there
so the oracle is wasmtime's Linker and store. Fixed seed: a failure names the module to replay.
"""

from __future__ import annotations

import random

import pytest
import wasmtime

from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    ValidationError,
    builtin_host_functions,
    linking,
    validate_module,
)

HOST = builtin_host_functions()
VALUES = ("i32", "i64", "f32", "f64")
# (module, name, its right signature if the runner provides it)
NAMES: list[tuple[str, str, tuple[str, str] | None]] = [
    ("edgefn", "log", ("i32 i32 i32", "")),
    ("edgefn", "http_fetch", ("i32 i32", "i64")),
    ("edgefn", "kv_get", None),
    ("wasi_snapshot_preview1", "fd_write", ("i32 i32 i32 i32", "i32")),
    ("wasi_snapshot_preview1", "clock_time_get", ("i32 i64 i32", "i32")),
    ("wasi_snapshot_preview1", "proc_exit", ("i32", "")),
    ("wasi_snapshot_preview1", "path_open", None),
    ("wasi_snapshot_preview1", "sock_accept", None),
    ("env", "abort", None),
]


def _values(rng: random.Random, most: int) -> str:
    return " ".join(rng.choice(VALUES) for _ in range(rng.randint(0, most)))


def _func(params: str, results: str) -> str:
    return f"(func (param {params}) (result {results}))"


def _import(rng: random.Random, index: int) -> str:
    module, name, right = rng.choice(NAMES)
    kind = rng.random()
    if kind < 0.7 and right is not None:
        ty = _func(*right)
    elif kind < 0.9:
        ty = _func(_values(rng, 4), _values(rng, 2))
    else:
        ty = rng.choice(["(memory 1)", "(global i32)", "(global (mut i64))", "(table 1 funcref)"])
    return f'(import "{module}" "{name}" {ty.replace("(func", f"(func $i{index}", 1)})'


def random_module(rng: random.Random) -> tuple[str, int]:
    """A module whose exports fit the ABI, and a memory_pages for it."""
    memory_pages = rng.randint(1, 3)
    items = [_import(rng, i) for i in range(rng.choice([0, 0, 1, 1, 2, 3]))]
    items += [
        f'(memory (export "memory") {rng.randint(0, memory_pages + 1)})',
        '(func (export "edgefn_alloc") (param i32) (result i32) (i32.const 0))',
        '(func (export "handle") (param i32 i32) (result i64) (i64.const 0))',
    ]
    if rng.random() < 0.1:
        items.append(f"(memory {rng.randint(0, 1)})")
    for _ in range(rng.randint(0, 2)):
        items.append(f"(table {rng.choice([0, 1, 2, 99_999, 100_000, 100_001])} funcref)")
    if rng.random() < 0.3:
        items.append(f'(data (memory 0) (i32.const {rng.choice([0, 100, 65535, 65536])}) "x")')
    return f"(module {' '.join(items)})", memory_pages


def finalize_accepts(wasm: bytes, spec: FunctionSpec) -> tuple[bool, str]:
    try:
        validate_module(wasm, spec, host_functions=HOST)
    except ValidationError as exc:
        return False, exc.message
    return True, ""


def runner_instantiates(wasm: bytes, spec: FunctionSpec, monkeypatch: pytest.MonkeyPatch) -> bool:
    with monkeypatch.context() as patch:
        patch.setattr(linking, "_check_imports", lambda *args: None)
        try:
            compiled = CompiledFunction.load(spec, wasm, host_functions=HOST)
            compiled.instantiate().close()
        except Exception:
            return False
    return True


def test_finalize_accepts_exactly_what_a_runner_instantiates(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261127)
    outcomes = {True: 0, False: 0}
    for case in range(400):
        text, memory_pages = random_module(rng)
        wasm = bytes(wasmtime.wat2wasm(text))
        spec = FunctionSpec("prop.fn", case + 1, memory_pages=memory_pages, max_execution_ms=50)
        accepted, reason = finalize_accepts(wasm, spec)
        assert accepted == runner_instantiates(wasm, spec, monkeypatch), (text, memory_pages, reason)
        if not accepted:
            assert reason.startswith("the module "), reason  # a sentence, never a stack trace
        outcomes[accepted] += 1
    # Both sides of the property were exercised, not just one.
    assert min(outcomes.values()) > 80, outcomes
