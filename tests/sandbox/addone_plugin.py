"""A third-party plugin contributing the host function `edgefn.add_one` (tests/guests/add_one.wat)."""

from __future__ import annotations

import wasmtime

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.runtime import HostFunction, InvocationContext

I32 = wasmtime.ValType.i32()


def add_one(ctx: InvocationContext, caller: wasmtime.Caller, value: int) -> int:
    return value + 1


@hookimpl
def edgehost_host_functions(ctx: AppContext) -> list[HostFunction]:
    return [HostFunction("edgefn", "add_one", (I32,), (I32,), add_one)]
