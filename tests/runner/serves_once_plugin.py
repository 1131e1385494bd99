"""A third-party plugin that recognises a guest whose instances must serve once, as a toolchain
recogniser would (tests/runner/test_fresh_instance.py).

Loaded like any plugin, with EDGEFN_PLUGINS='["tests.runner.serves_once_plugin"]'.
"""

from __future__ import annotations

from edgehost.hookspecs import hookimpl
from edgehost.runtime import FunctionSpec


@hookimpl
def edgehost_serves_once(spec: FunctionSpec, wasm: bytes) -> bool:
    """The deployed module of a function named `recognised` (by its bytes: a compiled module, not
    the WAT source), whatever its `fresh_instance` says."""
    return spec.function_id.endswith(".recognised") and wasm.startswith(b"\0asm")
