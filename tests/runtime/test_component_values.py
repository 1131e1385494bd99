"""Component values: every shape a host function returns or receives, written to wasmtime's C
values and read back, nested types included; and what wasmtime-py's own conversion makes of the
same C values (bare or tagged by type), the mapping the converters spare host functions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, FuncType, ResourceAny, ValType, Variant

from edgehost.runtime import get_engine
from edgehost.runtime.component.handles import rep_of
from edgehost.runtime.component.state import Own
from edgehost.runtime.component.values import NONE, Val, case, err, ok, reader, some, writer
from edgehost.runtime.fastcall import context_address
from tests.component_guests import build_component

CLOSED = case("closed")


@pytest.fixture(scope="module")
def functions() -> dict[str, FuncType]:
    """`interface#function` -> its type, for every function of the wasi:http 0.2.0 world."""
    engine = get_engine()
    component = Component(engine, build_component("types"))
    found = {}
    for name, item in component.type.imports(engine).items():
        for member, ty in ((m, i.ty) for m, i in item.ty.exports(engine).items()):
            if isinstance(ty, FuncType):
                found[f"{name.split('@')[0]}#{member}"] = ty
    return found


@pytest.fixture
def context() -> Iterator[int]:
    store = wasmtime.Store(get_engine())
    yield context_address(store)
    store.close()


def result_of(functions: dict[str, FuncType], name: str) -> ValType:
    ty = functions[name].result
    assert ty is not None
    return ty


def param_of(functions: dict[str, FuncType], name: str, index: int) -> ValType:
    return functions[name].params[index][1]


def round_trip(ty: ValType, value: Any, context: int) -> Any:
    raw = Val()
    writer(ty)(context, value, raw)
    return reader(ty)(raw)


def as_wasmtime_py(ty: ValType, value: Any, context: int) -> Any:
    raw = Val()
    writer(ty)(context, value, raw)
    return ty.convert_from_c(raw)


CASES = [
    # (function, its result: what the host returns, what wasmtime-py's own shape of it is)
    ("wasi:io/streams#[method]output-stream.check-write", ok(4096), 4096),
    ("wasi:io/streams#[method]output-stream.check-write", err(CLOSED), None),
    ("wasi:io/streams#[method]output-stream.write", ok(), Variant("ok")),
    ("wasi:io/streams#[method]output-stream.write", err(CLOSED), Variant("err", None)),
    ("wasi:io/streams#[method]input-stream.read", ok(b"abc"), b"abc"),
    ("wasi:io/streams#[method]input-stream.read", err(CLOSED), None),
    ("wasi:http/types#[method]incoming-request.method", case("get"), Variant("get")),
    ("wasi:http/types#[method]incoming-request.method", case("other", "PURGE"), Variant("other", "PURGE")),
    ("wasi:http/types#[method]incoming-request.path-with-query", some("/a?b"), "/a?b"),
    ("wasi:http/types#[method]incoming-request.path-with-query", NONE, None),
    ("wasi:http/types#[method]incoming-request.scheme", some(case("HTTP")), Variant("HTTP")),
    # result<_, header-error>: the error cases are a tagged variant, ok is unit: bare both ways
    ("wasi:http/types#[method]fields.append", err(case("immutable")), Variant("immutable")),
    ("wasi:http/types#[method]fields.entries", [("a", b"1"), ("b", b"")], [("a", b"1"), ("b", b"")]),
    ("wasi:http/types#[method]fields.get", [b"x", b"y"], [b"x", b"y"]),
    ("wasi:http/types#[method]outgoing-response.set-status-code", err(), Variant("err")),
    ("wasi:http/types#[method]outgoing-response.status-code", 204, 204),
    ("wasi:http/types#[method]outgoing-body.write", err(), None),
    (
        "wasi:http/types#[static]outgoing-body.finish",
        err(case("internal-error", NONE)),
        Variant("internal-error"),
    ),
    ("wasi:http/types#http-error-code", NONE, None),
    ("wasi:clocks/wall-clock#now", {"seconds": 5, "nanoseconds": 7}, None),
]


@pytest.mark.parametrize(
    ("function", "value", "bare"), CASES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(CASES)]
)
def test_a_result_round_trips_and_is_what_wasmtime_py_expects(
    functions: dict[str, FuncType], context: int, function: str, value: Any, bare: Any
) -> None:
    ty = result_of(functions, function)
    assert round_trip(ty, value, context) == value
    if not isinstance(value, dict):
        assert as_wasmtime_py(ty, value, context) == bare


def test_nested_trailers_result_round_trips(functions: dict[str, FuncType], context: int) -> None:
    """option<result<result<option<own<trailers>>, error-code>>>, none and some."""
    ty = result_of(functions, "wasi:http/types#[method]future-trailers.get")
    for value in (some(ok(ok(NONE))), NONE, some(err())):
        assert round_trip(ty, value, context) == value
    # wasmtime-py: the option bare, the outer result tagged, the inner one bare (None)
    assert as_wasmtime_py(ty, some(ok(ok(NONE))), context) == Variant("ok", None)
    own = round_trip(ty, some(ok(ok(some(Own(7, 5))))), context)
    assert own.payload.payload.payload.tag == "some"
    assert rep_of(context, own.payload.payload.payload.payload) == 7


def test_owned_resources_in_results_carry_their_rep(functions: dict[str, FuncType], context: int) -> None:
    """result<own<outgoing-body>> and result<option<own<T>>, error-code>-like nestings."""
    ty = result_of(functions, "wasi:http/types#[method]outgoing-response.body")
    back = round_trip(ty, ok(Own(42, 9)), context)
    assert back.tag == "ok" and rep_of(context, back.payload) == 42
    raw = Val()
    writer(ty)(context, ok(Own(43, 9)), raw)
    assert isinstance(ty.convert_from_c(raw), ResourceAny)  # bare: the cases differ in class


def test_error_codes_with_record_payloads_round_trip(functions: dict[str, FuncType], context: int) -> None:
    """The guest's response: result<own<outgoing-response>, error-code>, an error-code with a
    record of options in it."""
    ty = param_of(functions, "wasi:http/types#[static]response-outparam.set", 1)
    for value in (
        err(case("HTTP-request-denied")),
        err(case("DNS-error", {"rcode": some("SERVFAIL"), "info-code": NONE})),
        err(case("HTTP-response-body-size", some(1 << 40))),
        err(case("internal-error", some("boom"))),
    ):
        assert round_trip(ty, value, context) == value


def test_bodies_of_any_size_round_trip_byte_for_byte(functions: dict[str, FuncType], context: int) -> None:
    """list<u8> is copied as one strided slice: random sizes and bytes, a fixed seed."""
    ty = result_of(functions, "wasi:io/streams#[method]input-stream.blocking-read")
    rng = random.Random(18)
    for size in [0, 1, 2, 255, 4096, 65537, 1 << 20, *(rng.randrange(1, 100_000) for _ in range(20))]:
        data = rng.randbytes(size)
        assert round_trip(ty, ok(data), context) == ok(data)
    assert as_wasmtime_py(ty, ok(b"\x00\xff"), context) == b"\x00\xff"
