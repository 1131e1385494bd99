"""Shared helpers: load .wat guests from tests/guests and build instances."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    GuestRequest,
    HostFunction,
    builtin_host_functions,
    wasm_from_source,
)

GUESTS = Path(__file__).parent.parent / "guests"


def guest_wasm(name: str) -> bytes:
    path = GUESTS / f"{name}.wat"
    return wasm_from_source(path.read_bytes(), path.name)


def compile_guest(
    name: str,
    *,
    extra: Sequence[HostFunction] = (),
    **spec_fields: object,
) -> CompiledFunction:
    spec = FunctionSpec(
        function_id=name, version=1, **{"memory_pages": 16, "max_execution_ms": 50, **spec_fields}
    )  # type: ignore[arg-type]
    return CompiledFunction.load(spec, guest_wasm(name), host_functions=[*builtin_host_functions(), *extra])


@pytest.fixture
def request_() -> GuestRequest:
    return GuestRequest(
        "POST", "/users/7?x=1", [("content-type", "text/plain"), ("x-request-id", "r1")], b"hi"
    )
