"""Finalize refuses what no runner could link or instantiate, naming the import or the limit: on a
real CP on each backend (S3 with PostgreSQL, the local folder with SQLite)."""

from __future__ import annotations

import pytest
import wasmtime

from tests.controlplane.harness import ControlPlane, Developer

SHAPE = """(memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "handle") (param i32 i32) (result i64) (i64.const 0))"""


def module(*items: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {' '.join(items)} {SHAPE})"))


@pytest.fixture
def dev(any_cp: ControlPlane) -> Developer:
    return any_cp.developer("linker")


@pytest.mark.parametrize(
    ("wasm", "reason"),
    [
        (
            module('(import "edgefn" "log" (func (param i32)))'),
            "the module imports edgefn.log as a function (i32) -> (), "
            "but the runner provides a function (i32, i32, i32) -> ()",
        ),
        (
            module('(import "edgefn" "http_fetch" (global i64))'),
            "the module imports edgefn.http_fetch as a global i64, "
            "but the runner provides a function (i32, i32) -> (i64)",
        ),
        (
            module('(import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i32) (result i32)))'),
            "the module imports wasi_snapshot_preview1.clock_time_get as a function (i32, i32) -> (i32), "
            "but the runner provides a function (i32, i64, i32) -> (i32)",
        ),
        (
            module('(import "env" "memory" (memory 1))'),
            "the module imports env.memory as a memory, which the runner does not provide; "
            "allowed: edgefn.http_fetch, edgefn.kv_delete, edgefn.kv_get, edgefn.kv_set, edgefn.log",
        ),
        (
            module("(memory 1)"),
            "memory count too high at 2 (a runner allows one memory of at most 16 pages",
        ),
        (
            module("(table 5000000 funcref)"),
            "table minimum size of 5000000 elements exceeds table limits (a runner allows one memory of "
            "at most 16 pages and tables of at most 100000 elements)",
        ),
        (
            module('(data (i32.const 65535) "xy")'),
            "the module could not be instantiated: the guest trapped: wasm trap: out of bounds memory access",
        ),
    ],
    ids=[
        "log-signature",
        "fetch-as-global",
        "wasi-signature",
        "memory-import",
        "two-memories",
        "huge-table",
        "data",
    ],
)
def test_what_no_runner_instantiates_is_refused_with_the_reason(
    dev: Developer, wasm: bytes, reason: str
) -> None:
    version = dev.upload("linked", "bad", wasm)["version"]
    final = dev.finalize("linked", "bad", version)
    assert final.status_code == 422, final.text
    assert final.json()["error"] == "invalid_module"
    assert reason in final.json()["detail"]
    info = dev.http.get(f"/v1/projects/linked/functions/bad/versions/{version}").json()
    assert info["state"] == "rejected" and reason in info["reason"]
    assert dev.deploy("linked", "bad", "true", version).status_code == 409


def test_initial_memory_above_memory_pages_is_refused(dev: Developer) -> None:
    nine_pages = SHAPE.replace('(memory (export "memory") 1)', '(memory (export "memory") 9)')
    wasm = bytes(wasmtime.wat2wasm(f"(module {nine_pages})"))
    version = dev.upload("linked", "pages", wasm, memory_pages=8)["version"]
    final = dev.finalize("linked", "pages", version)
    assert final.status_code == 422
    assert "starts with 9 memory pages but the function allows 8" in final.json()["detail"]


def test_start_functions_are_left_to_the_runners(dev: Developer) -> None:
    """A start function that never returns is the guest's business (504 `timeout` on each runner):
    the CP runs no guest code, and the module is ready."""
    wasm = module("(func $spin (loop $forever (br $forever)))", "(start $spin)")
    version = dev.upload("linked", "spins", wasm)["version"]
    final = dev.finalize("linked", "spins", version)
    assert final.status_code == 200, final.text
    assert final.json()["state"] == "ready"
