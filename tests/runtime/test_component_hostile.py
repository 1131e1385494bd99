"""A hostile tenant's component against the host's shared mechanisms (tests/guests/components/
hostile.wat): what it keeps on a hot instance is bounded, and each way of answering wrongly is a
clear 500 that destroys only its own instance."""

from __future__ import annotations

import sys

import pytest
import wasmtime

from edgehost.runtime import FunctionSpec, GuestRequest, InvokeError, ValidationError, validate_module
from edgehost.runtime.component.instance import CompiledComponent, ComponentInstance
from edgehost.runtime.component.state import MAX_LIVE_RESOURCES
from edgehost.runtime.component.wasi_http import MAX_FIELDS_BYTES
from tests.component_guests import build_component

# Long enough that a guest stopped by a bound never meets it: a timeout here means no bound held.
SPEC = FunctionSpec("p.hostile", 1, memory_pages=16, max_execution_ms=2_000)


@pytest.fixture(scope="module")
def compiled() -> CompiledComponent:
    return CompiledComponent.load(SPEC, build_component("hostile"))


def _get(instance: ComponentInstance, path: str) -> tuple[int, bytes]:
    response = instance.invoke(GuestRequest("GET", path, [], b"x" * 4096), request_id=path)
    return response.status, response.body


def _failure(compiled: CompiledComponent, path: str) -> InvokeError:
    instance = compiled.instantiate()
    interval = sys.getswitchinterval()
    with pytest.raises(InvokeError) as failure:
        _get(instance, path)
    assert instance.broken
    assert sys.getswitchinterval() == interval  # restored on the failure's way out too
    instance.close()
    return failure.value


def test_a_request_the_guest_never_drops_is_forgotten_when_it_ends(compiled: CompiledComponent) -> None:
    """componentize-py never drops its incoming-request: before, each request's body stayed in
    the table of the hot instance, without bound."""
    instance = compiled.instantiate()
    for _ in range(MAX_LIVE_RESOURCES + 10):
        assert _get(instance, "/keep") == (200, b"ok\n")
    assert instance.live_resources == 0
    instance.close()


def test_a_guest_that_never_drops_its_fields_traps_at_the_resource_cap(compiled: CompiledComponent) -> None:
    failure = _failure(compiled, "/fields")
    assert failure.code == "trap", failure.message
    assert f"an instance may hold {MAX_LIVE_RESOURCES}" in failure.message


def test_a_fields_resource_grown_forever_traps_at_its_size_cap(compiled: CompiledComponent) -> None:
    failure = _failure(compiled, "/append")
    assert failure.code == "trap", failure.message
    assert f"at most {MAX_FIELDS_BYTES}" in failure.message


def test_an_error_code_set_on_the_outparam_is_500_bad_response(compiled: CompiledComponent) -> None:
    failure = _failure(compiled, "/x")
    assert (failure.code, failure.message) == (
        "bad_response",
        "the guest answered with the error code DNS-timeout",
    )


def test_returning_without_a_response_is_500_bad_response(compiled: CompiledComponent) -> None:
    failure = _failure(compiled, "/n")
    assert failure.code == "bad_response"
    assert "without setting its response-outparam" in failure.message


def test_setting_the_outparam_twice_traps(compiled: CompiledComponent) -> None:
    assert _failure(compiled, "/2").code == "trap"


def test_the_other_requests_of_a_hostile_function_still_answer(compiled: CompiledComponent) -> None:
    instance = compiled.instantiate()
    assert _get(instance, "/") == (200, b"ok\n")
    assert instance.live_resources == 0
    instance.close()


def test_a_hot_instance_is_charged_the_memory_it_can_grow_to(compiled: CompiledComponent) -> None:
    """A component's memories are invisible to the host, so the pool charges what the store lets
    them reach (memory_pages each), not their initial 2 pages a guest can grow past at will."""
    instance = compiled.instantiate()
    assert instance.memory_bytes == SPEC.memory_pages * 65536
    instance.close()
    assert instance.memory_bytes == 0


def test_memories_together_at_start_are_within_memory_pages() -> None:
    """Each of ten pages fits 16, but the function's memory is 16 pages however many memories
    its component spreads it over."""
    two = bytes(wasmtime.wat2wasm("(component (core module (memory 10)) (core module (memory 10)))"))
    with pytest.raises(ValidationError) as refused:
        validate_module(two, SPEC, host_functions=())
    assert (
        "the component has 2 memories of 20 pages at start but the function allows 16"
        in refused.value.message
    )


def test_a_status_outside_the_final_ones_is_500_bad_response(compiled: CompiledComponent) -> None:
    """set-status-code refuses 700 (the guest traps if it did not); 101 it takes, and the
    response check every guest's answer goes through refuses it, as for ABI v1."""
    failure = _failure(compiled, "/s")
    assert failure.code == "bad_response", failure.message
    assert "status 101 is outside 200..599" in failure.message


def test_writing_a_body_after_finishing_it_traps(compiled: CompiledComponent) -> None:
    failure = _failure(compiled, "/b")
    assert (failure.code, failure.message) == ("trap", "the guest wrote to a body after finishing it")
