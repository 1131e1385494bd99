"""One entry point for the runner to load a function version, whatever kind of guest it is: a
core module against ABI v1 (module.py) or a wasi:http component (component/), told apart by the
binary's preamble. Both kinds give the pool the same shape: `instantiate(deadline_ms)` and
instances with `invoke`, `broken`, `memory_bytes`, `last_used` and `close`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .component.detect import is_component
from .component.instance import CompiledComponent, ComponentInstance
from .hostcalls import DEFAULT_LIMITS, HostFunction, OutputLimits
from .instance import Instance
from .module import CompiledFunction
from .types import FunctionSpec

CompiledGuest = CompiledFunction | CompiledComponent
GuestInstance = Instance | ComponentInstance


def load_guest(
    spec: FunctionSpec,
    wasm: bytes,
    *,
    host_functions: Sequence[HostFunction],
    cache_path: Path | None = None,
    limits: OutputLimits = DEFAULT_LIMITS,
) -> CompiledGuest:
    """The compiled guest, from the serialized cache at `cache_path` when it holds these bytes;
    raises ValidationError when it does not compile or link. `host_functions` (ABI v1 imports)
    are for core modules only."""
    if is_component(wasm):
        return CompiledComponent.load(spec, wasm, cache_path=cache_path, limits=limits)
    return CompiledFunction.load(
        spec, wasm, host_functions=host_functions, cache_path=cache_path, limits=limits
    )
