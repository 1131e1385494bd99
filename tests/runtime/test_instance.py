from __future__ import annotations

import struct
from typing import Any

import pytest
import wasmtime

from edgehost.runtime import GuestRequest, HostFunction, Instance, InvokeError, encode_request
from edgehost.runtime.codec import encode_response

from .conftest import compile_guest

I32 = wasmtime.ValType.i32()


def failure(instance: Instance, req: GuestRequest) -> InvokeError:
    with pytest.raises(InvokeError) as info:
        instance.invoke(req, request_id="r1")
    assert instance.broken
    return info.value


def test_echo_returns_request_bytes(request_: GuestRequest) -> None:
    response = compile_guest("echo").instantiate().invoke(request_, request_id="r1")
    assert response.status == 200
    assert response.body == encode_request(request_)
    assert response.cpu_seconds >= 0


def test_hot_instance_reused_and_edgefn_free_called(request_: GuestRequest) -> None:
    instance = compile_guest("echo").instantiate()
    seen = [instance.invoke(request_, request_id=f"r{i}").headers for i in range(3)]
    # x-free is the count of edgefn_free calls before each request: the host freed every response.
    assert seen == [[("x-free", "0")], [("x-free", "1")], [("x-free", "2")]]
    assert not instance.broken


def test_large_body_grows_guest_memory() -> None:
    body = bytes(range(256)) * 1024
    response = compile_guest("echo").instantiate().invoke(GuestRequest("POST", "/", [], body), request_id="r")
    assert response.body.endswith(body)


def test_infinite_loop_times_out_and_breaks(request_: GuestRequest) -> None:
    instance = compile_guest("loop", max_execution_ms=20).instantiate()
    assert failure(instance, request_).code == "timeout"
    with pytest.raises(RuntimeError):
        instance.invoke(request_, request_id="again")


def test_deadline_override(request_: GuestRequest) -> None:
    instance = compile_guest("loop", max_execution_ms=60_000).instantiate()
    with pytest.raises(InvokeError) as info:
        instance.invoke(request_, request_id="r", deadline_ms=10)
    assert info.value.code == "timeout"


def test_start_function_loop_times_out_instantiation() -> None:
    compiled = compile_guest("start_loop", max_execution_ms=20)
    with pytest.raises(InvokeError) as info:
        compiled.instantiate()
    assert info.value.code == "timeout"


@pytest.mark.parametrize(
    ("entrypoint", "reason", "frames"),
    [
        ("unreachable", "wasm `unreachable` instruction executed", "<wasm function 1> @0x"),
        ("divzero", "integer divide by zero", "<wasm function 2> @0x"),
        ("overflow", "call stack exhausted", "recurse @0x8b, recurse @0x8b, recurse @0x8b, ... "),
        (
            "oob_load",
            "out of bounds memory access; memory fault at wasm address 0x7ffffff0",
            "<wasm function 4> @0x",
        ),
    ],
)
def test_traps_keep_their_reason_and_innermost_frames(
    entrypoint: str, reason: str, frames: str, request_: GuestRequest
) -> None:
    instance = compile_guest("traps", entrypoint=entrypoint).instantiate()
    error = failure(instance, request_)
    assert error.code == "trap"
    assert error.message.startswith(f"the guest trapped: wasm trap: {reason}")
    assert f"(backtrace: {frames}" in error.message
    assert "\n" not in error.message


def test_memory_grow_past_limit_returns_minus_one(request_: GuestRequest) -> None:
    response = compile_guest("grow", memory_pages=2).instantiate().invoke(request_, request_id="r")
    assert struct.unpack("<ii", response.body) == (1, -1)


def test_memory_grow_within_limit_succeeds(request_: GuestRequest) -> None:
    response = compile_guest("grow", memory_pages=100).instantiate().invoke(request_, request_id="r")
    assert struct.unpack("<ii", response.body) == (1, 2)


def test_initial_memory_over_store_limit_fails_instantiation() -> None:
    compiled = compile_guest("fetch", memory_pages=1)  # declares 2 pages; load does not re-validate
    with pytest.raises(InvokeError) as info:
        compiled.instantiate()
    assert info.value.code == "instantiate_failed"


@pytest.mark.parametrize(
    ("entrypoint", "fragment"), [("oob", "response buffer"), ("bad_status", "status 99")]
)
def test_bad_responses(entrypoint: str, fragment: str, request_: GuestRequest) -> None:
    error = failure(compile_guest("bad_response", entrypoint=entrypoint).instantiate(), request_)
    assert error.code == "bad_response"
    assert fragment in error.message


def test_edgefn_log_captured(request_: GuestRequest) -> None:
    response = compile_guest("log").instantiate().invoke(request_, request_id="r")
    assert response.status == 204
    assert [(line.level, line.message, line.source) for line in response.logs] == [
        (2, "hi from guest", "log")
    ]


def test_third_party_host_function(request_: GuestRequest) -> None:
    add_one = HostFunction("edgefn", "add_one", (I32,), (I32,), lambda ctx, caller, n: n + 1)
    response = compile_guest("add_one", extra=[add_one]).instantiate().invoke(request_, request_id="r")
    assert response.status == 200


def test_host_function_invoke_error_keeps_its_code(request_: GuestRequest) -> None:
    def over_quota(ctx: object, caller: object, n: int) -> int:
        raise InvokeError("quota_exceeded", "no more")

    add_one = HostFunction("edgefn", "add_one", (I32,), (I32,), over_quota)
    error = failure(compile_guest("add_one", extra=[add_one]).instantiate(), request_)
    assert (error.code, error.message) == ("quota_exceeded", "no more")


def test_instances_are_isolated(request_: GuestRequest) -> None:
    compiled = compile_guest("echo")
    first, second = compiled.instantiate(), compiled.instantiate()
    first.invoke(request_, request_id="a")
    assert second.invoke(request_, request_id="b").headers == [("x-free", "0")]


def test_a_host_function_that_raises_unexpectedly_is_a_host_error(request_: GuestRequest) -> None:
    """The host function's bug, not the guest's: `host_error`, where a guest's fault is `trap`."""

    def buggy(ctx: object, caller: object, n: int) -> int:
        raise KeyError("oops")

    add_one = HostFunction("edgefn", "add_one", (I32,), (I32,), buggy)
    error = failure(compile_guest("add_one", extra=[add_one]).instantiate(), request_)
    assert (error.code, error.message) == (
        "host_error",
        "host function edgefn.add_one failed: KeyError: 'oops'",
    )


def test_a_function_parses_fields_it_answered_before_once() -> None:
    """The same fields as the last response of any instance of the function reuse its parsed list
    (FieldsMemo); other fields, or a status a guest may not give, are parsed and checked as ever."""
    function = compile_guest("mirror")
    instance, other_instance = function.instantiate(), function.instantiate()

    def answer(status: int, fields: list[tuple[str, str]], body: bytes, by: Instance = instance) -> Any:
        wire = encode_response(status, fields, body)
        return by.invoke(GuestRequest("POST", "/", [], wire), request_id="r")

    first = answer(200, [("content-type", "text/plain")], b"one")
    second = answer(201, [("content-type", "text/plain")], b"two!", other_instance)
    assert (second.status, second.headers, second.body) == (201, [("content-type", "text/plain")], b"two!")
    assert second.headers is first.headers  # not parsed again
    other = answer(200, [("content-type", "text/plainX")], b"")
    assert other.headers == [("content-type", "text/plainX")]
    with pytest.raises(InvokeError, match="status 101"):
        answer(101, [("content-type", "text/plainX")], b"")


def test_only_a_module_that_imports_host_functions_gets_an_invocation_context(
    request_: GuestRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A context per call is for host functions (logs, fetch deadlines, failures); a module that
    imports none (echo) is called without one, and one that does (log) still has its lines."""
    from edgehost.runtime import instance as instance_module

    made: list[object] = []
    real = instance_module.InvocationContext

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(instance_module, "InvocationContext", counted)
    echo = compile_guest("echo").instantiate()
    assert echo.invoke(request_, request_id="r").logs == []
    assert made == []
    logged = compile_guest("log").instantiate().invoke(request_, request_id="r")
    assert len(made) == 1 and logged.logs
