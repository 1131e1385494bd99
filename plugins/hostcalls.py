"""Built-in plugin: the `edgefn.log` and `edgefn.http_fetch` host functions of ABI v1."""

from __future__ import annotations

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.runtime import HostFunction, builtin_host_functions


@hookimpl
def edgehost_host_functions(ctx: AppContext) -> list[HostFunction]:
    return builtin_host_functions()
