"""The control plane's finalize checks, run on the developer's machine before anything is sent.

`edgefn build` and `edgefn deploy` check every guest with `validate_module`, the very function the
control plane's finalize runs (edgehost/controlplane/registry.py), against the host functions the
plugins of these settings provide. So a guest the control plane would refuse sends nothing and uses
up no version number: deploy is all or nothing for module checks. The control plane still checks
every upload itself (it may run other plugins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edgehost.controlplane.registry import function_id_of
from edgehost.guestbuild import GuestBuildError
from edgehost.project.schema import FunctionDef
from edgehost.runtime import FunctionSpec, HostFunction, ValidationError, validate_module
from edgehost.toolchains.process import notice_if_slow


def check_function(
    project: str, fn: FunctionDef, wasm: bytes, *, host_functions: Sequence[HostFunction]
) -> None:
    """Raises GuestBuildError naming the function and the control plane's reason (ABI v1, "Module
    shape", "Host functions", "Limits") when finalize would refuse `wasm` under `fn`'s settings."""
    spec = FunctionSpec(
        function_id_of(project, fn.name),
        1,
        entrypoint=fn.entrypoint,
        memory_pages=fn.memory_pages,
        max_execution_ms=fn.max_execution_ms,
    )
    # wasmtime compiles the module to check it: seconds for a component bundling a language runtime.
    slow = f"still checking {fn.name}: compiling its {len(wasm) / 1e6:.0f} MB module with wasmtime"
    try:
        with notice_if_slow(slow):
            validate_module(wasm, spec, host_functions=host_functions)
    except ValidationError as exc:
        raise GuestBuildError(f"function {fn.name} ({fn.wasm.name}): {exc.message}") from None


def check_functions(
    project: str,
    functions: Sequence[FunctionDef],
    artifacts: Mapping[str, bytes],
    *,
    host_functions: Sequence[HostFunction],
) -> None:
    """`check_function` for each function, in file order; the first refusal raises."""
    for fn in functions:
        check_function(project, fn, artifacts[fn.name], host_functions=host_functions)
