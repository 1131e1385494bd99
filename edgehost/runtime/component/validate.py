"""Registration checks for a wasi:http component, each refusal one sentence the developer can act
on, like a core module's (edgehost/runtime/validate.py): its memories within `memory_pages`, an
exported `wasi:http/incoming-handler` at a 0.2.x version, and every import one a runner links
(linking.py). No guest code runs here: the component is compiled (unoptimised, on one core:
engine.checking_engine) and linked, never instantiated.
"""

from __future__ import annotations

from ..binary import MalformedBinary
from ..engine import checking_engine
from ..errors import ValidationError
from ..types import FunctionSpec, ModuleReport
from .detect import memory_minimums
from .instance import CompiledComponent, compile_component
from .linking import PROVIDED, plan_imports


def _check_memories(wasm: bytes, memory_pages: int) -> int:
    """The initial memory of the component's core modules together, in pages, within
    memory_pages: `memory_pages` is the function's memory, however many memories hold it."""
    try:
        minimums = memory_minimums(wasm)
    except MalformedBinary as exc:
        raise ValidationError(f"the component is not valid: {exc}") from None
    total = sum(minimums)
    if total > memory_pages:
        has = f"a memory of {total}" if len(minimums) == 1 else f"{len(minimums)} memories of {total}"
        raise ValidationError(
            f"the component has {has} pages at start but the function allows "
            f"{memory_pages}; raise memory_pages or build with a smaller initial memory"
        )
    return total


def validate_component(wasm: bytes, spec: FunctionSpec) -> ModuleReport:
    """Refuses, with a ValidationError, any component a runner would not link or whose memories
    need more than `spec.memory_pages`; `denied_wasi_imports` in the report names the imports
    linked to stubs that answer 500 `capability_denied` when called."""
    initial = _check_memories(wasm, spec.memory_pages)
    engine = checking_engine()
    component, _ = compile_component(wasm, engine=engine)
    plan = plan_imports(engine, component)
    if plan.unsupported:
        provided = ", ".join(sorted(PROVIDED))
        raise ValidationError(
            f"the component imports {', '.join(plan.unsupported)}, which a runner does not provide; "
            f"a runner provides, at any 0.2.x version: {provided} (filesystem and sockets are "
            "linked but denied)"
        )
    compiled = CompiledComponent(spec, component, from_cache=False, wasm=wasm, engine=engine)
    return ModuleReport(
        initial,
        plan.denied,
        tuple(component.type.imports(engine)),
        (compiled.export or "",),
    )
