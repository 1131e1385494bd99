"""Finalize's module check (`validate_module`: compile, ABI shape, the runner's Linker, one
instantiation in a runner-limited store) against compiling alone, which is all finalize did before.

A module with a start section is compiled twice (as uploaded, then without its start function).
Run: .venv/bin/python -m bench.finalize_check
"""

from __future__ import annotations

import wasmtime

from bench.common import REPO
from bench.guest_call import compare
from edgehost.guestbuild import load_guest_bytes
from edgehost.runtime import FunctionSpec, builtin_host_functions, get_engine, validate_module

HOST = builtin_host_functions()


def main() -> None:
    hello_wat = load_guest_bytes(REPO / "functions/hello/hello.wat")
    hello_c = load_guest_bytes(REPO / "functions/hello-c/hello.c")
    started = load_guest_bytes(REPO / "tests/guests/start_loop.wat")
    engine = get_engine()
    for name, wasm, n in (
        ("hello.wat", hello_wat, 50),
        ("hello.c (SDK)", hello_c, 10),
        ("start section", started, 50),
    ):
        spec = FunctionSpec("bench.fn", 1, memory_pages=64, max_execution_ms=50)
        compare(
            f"finalize check, {name} ({len(wasm)} bytes)",
            {
                "compile only (before)": (lambda w=wasm: wasmtime.Module(engine, w), n),
                "validate_module (now)": (
                    lambda w=wasm, s=spec: validate_module(w, s, host_functions=HOST),
                    n,
                ),
            },
        )


if __name__ == "__main__":
    main()
