"""Component instances in process: the deadline on instantiation, detection from the bytes, and the
serialized cache (the socket tests are in tests/wasi_http)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import wasmtime

from edgehost.runtime import FunctionSpec, GuestRequest, InvokeError, load_guest
from edgehost.runtime.binary import MalformedBinary
from edgehost.runtime.component import linking
from edgehost.runtime.component.detect import is_component, memory_minimums
from edgehost.runtime.component.instance import SWITCH_INTERVAL_S, CompiledComponent
from tests.component_guests import build_component

SPEC = FunctionSpec("c", 1, memory_pages=16, max_execution_ms=100)


def test_an_endless_start_function_ends_at_the_deadline_as_timeout() -> None:
    compiled = load_guest(SPEC, build_component("start_loop"), host_functions=())
    with pytest.raises(InvokeError) as failure:
        compiled.instantiate()
    assert failure.value.code == "timeout"


def test_components_and_core_modules_are_told_apart_by_their_preamble() -> None:
    assert is_component(build_component("minimal"))
    assert not is_component(bytes(wasmtime.wat2wasm("(module)")))
    assert not is_component(b"(module)")
    assert not is_component(b"\0asm")


def test_the_memories_of_nested_core_modules_are_read_and_bad_bytes_refused() -> None:
    assert memory_minimums(build_component("minimal", memory_pages=3)) == [3]
    with pytest.raises(MalformedBinary):
        memory_minimums(b"\0asm\x0d\x00\x01\x00\x01\xff\xff\xff\xff\x0f")


def test_a_second_load_comes_from_the_serialized_cache(tmp_path: Path) -> None:
    cache = tmp_path / "minimal.cwasm"
    first = CompiledComponent.load(SPEC, build_component("minimal"), cache_path=cache)
    second = CompiledComponent.load(SPEC, build_component("minimal"), cache_path=cache)
    assert (first.from_cache, second.from_cache) == (False, True)
    response = second.instantiate().invoke(GuestRequest("GET", "/", [], b""), request_id="r")
    assert (response.status, response.body) == (200, b"hello from a component\n")


def test_the_switch_interval_is_short_only_while_a_component_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host calls take the GIL back from other threads: while a component runs, Python hands it
    over every 0.2 ms; before and after, the process keeps its own interval."""
    seen: list[float] = []
    original = linking.PROVIDED["wasi:http/types"]["[constructor]fields"]

    def spy(state: object) -> object:
        seen.append(sys.getswitchinterval())
        return original(state)

    monkeypatch.setitem(linking.PROVIDED["wasi:http/types"], "[constructor]fields", spy)
    before = sys.getswitchinterval()
    compiled = load_guest(SPEC, build_component("minimal"), host_functions=())
    compiled.instantiate().invoke(GuestRequest("GET", "/", [], b""), request_id="r")
    assert seen == [pytest.approx(SWITCH_INTERVAL_S)]
    assert sys.getswitchinterval() == before


# minimal.wat, also asking its body's stream for a pollable (`subscribe` takes borrow<output-stream>
# and does not look at it) and dropping that pollable before it writes.
SUBSCRIBING = [
    (
        "  (memory (export",
        '  (import "wasi:io/streams@0.2.0" "[method]output-stream.subscribe"\n'
        "    (func $subscribe (param i32) (result i32)))\n"
        '  (import "wasi:io/poll@0.2.0" "[resource-drop]pollable" (func $drop_pollable (param i32)))\n'
        "  (memory (export",
    ),
    (
        "    (call $write (local.get $stream)",
        "    (call $drop_pollable (call $subscribe (local.get $stream)))\n"
        "    (call $write (local.get $stream)",
    ),
]


def test_a_borrow_the_host_function_does_not_look_at_ends_with_the_call() -> None:
    """wasmtime traps a call that returns with a lent handle still live ("borrow handles still
    remain at the end of the call"): every borrow<T> argument is ended as it is read, used or not
    (componentize-js's engine subscribes to its body's stream on every response)."""
    compiled = load_guest(SPEC, build_component("minimal", replace=SUBSCRIBING), host_functions=())
    response = compiled.instantiate().invoke(GuestRequest("GET", "/", [], b""), request_id="r")
    assert (response.status, response.body) == (200, b"hello from a component\n")
