"""Cold path: instantiate + first call of a compiled (and disk-cached) function against a hot call.

Goal: a cold request costs at most ~200 µs of host work. Every row is a median of alternated
rounds, with its ratio to the hot invoke measured in the same process.
Run: .venv/bin/python -m bench.cold_path
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import wasmtime

from bench.guest_call import GUESTS, REQ, compare
from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    builtin_host_functions,
    get_engine,
    wasm_from_source,
)


def main() -> None:
    wasm = wasm_from_source((GUESTS / "echo.wat").read_bytes(), "echo.wat")
    spec = FunctionSpec("echo", 1, memory_pages=16, max_execution_ms=50)
    cache = Path(tempfile.mkdtemp()) / "echo.cwasm"
    echo = CompiledFunction.load(spec, wasm, host_functions=builtin_host_functions(), cache_path=cache)
    hot = echo.instantiate()
    engine = get_engine()
    module = wasmtime.Module(engine, wasm)

    def stock_cold() -> None:
        # What wasmtime-py offers out of the box: a Store, Instance() and Func.__call__ for alloc + handle.
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1 << 40)
        exports = wasmtime.Instance(store, module, []).exports(store)
        alloc, handle = exports["edgefn_alloc"], exports["handle"]
        assert isinstance(alloc, wasmtime.Func) and isinstance(handle, wasmtime.Func)
        handle(store, alloc(store, 8), 8)

    def from_disk() -> None:
        fn = CompiledFunction.load(spec, wasm, host_functions=builtin_host_functions(), cache_path=cache)
        fn.instantiate().invoke(REQ, request_id="r")

    compare(
        "cold path (ratios against a hot invoke)",
        {
            "hot invoke (echo)": (lambda: hot.invoke(REQ, request_id="r"), 5000),
            "instantiate (InstancePre)": (echo.instantiate, 500),
            "instantiate + first invoke (cold request)": (
                lambda: echo.instantiate().invoke(REQ, request_id="r"),
                500,
            ),
            "stock wasmtime-py: Instance() + 2 Func calls": (stock_cold, 300),
            "load from .cwasm cache + instantiate + invoke": (from_disk, 100),
        },
    )


if __name__ == "__main__":
    main()
