"""The example guests and the C SDK, run through a minimal ABI v1 harness.

The harness uses raw wasmtime-py rather than edgehost.runtime so these tests pin
the guests to the guest ABI (docs/abi.md) itself, independent of the runner's implementation.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from edgehost.guestbuild import GuestBuildError, build_c, guest_sources, load_guest_bytes
from edgehost.toolchains import process

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
C_EXAMPLES = {
    "hello-c": FUNCTIONS / "hello-c" / "hello.c",
    "echo": FUNCTIONS / "echo" / "echo.c",
    "json-api": FUNCTIONS / "json-api" / "json_api.c",
    "fetch": FUNCTIONS / "fetch" / "fetch.c",
}
WAT_EXAMPLES = {
    "hello": FUNCTIONS / "hello" / "hello.wat",
    "echo-wat": FUNCTIONS / "echo-wat" / "echo.wat",
}
PAGE = 65536
MEMORY_PAGES = 16

Headers = Sequence[tuple[str, str]]


def _string(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def encode_request(method: str, uri: str, headers: Headers, body: bytes) -> bytes:
    out = _string(method.encode()) + _string(uri.encode()) + struct.pack("<I", len(headers))
    for name, value in headers:
        out += _string(name.encode()) + _string(value.encode())
    return out + _string(body)


def encode_response(status: int, headers: Headers, body: bytes) -> bytes:
    out = struct.pack("<II", status, len(headers))
    for name, value in headers:
        out += _string(name.encode()) + _string(value.encode())
    return out + _string(body)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u32(self) -> int:
        assert self.pos + 4 <= len(self.data), "count runs past the end"
        (value,) = struct.unpack_from("<I", self.data, self.pos)
        self.pos += 4
        return int(value)

    def string(self) -> bytes:
        n = self.u32()
        assert self.pos + n <= len(self.data), "length runs past the end"
        self.pos += n
        return self.data[self.pos - n : self.pos]


@dataclass
class Response:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


def decode_response(data: bytes) -> Response:
    """Strict per the guest ABI (docs/abi.md): trailing bytes or a bad status are malformed."""
    r = _Reader(data)
    status = r.u32()
    headers = [(r.string().decode(), r.string().decode()) for _ in range(r.u32())]
    body = r.string()
    assert r.pos == len(data), "bytes left over after the body"
    assert 100 <= status <= 599
    return Response(status, headers, body)


def decode_request(data: bytes) -> tuple[str, str, Headers, bytes]:
    r = _Reader(data)
    method, uri = r.string().decode(), r.string().decode()
    headers = [(r.string().decode(), r.string().decode()) for _ in range(r.u32())]
    body = r.string()
    assert r.pos == len(data)
    return method, uri, headers, body


@dataclass
class Guest:
    """One instance of a guest, linked with WASI and the two edgefn imports."""

    wasm: bytes
    fetch_reply: bytes | int = field(default_factory=lambda: encode_response(200, [], b""))
    logs: list[tuple[int, str]] = field(default_factory=list)
    fetches: list[tuple[str, str, Headers, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        engine = wasmtime.Engine()
        self.module = wasmtime.Module(engine, self.wasm)
        self.store = wasmtime.Store(engine)
        self.store.set_wasi(wasmtime.WasiConfig())
        self.store.set_limits(memory_size=MEMORY_PAGES * PAGE)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        linker.define_func(
            "edgefn", "log", wasmtime.FuncType([i32, i32, i32], []), self._log, access_caller=True
        )
        linker.define_func(
            "edgefn", "http_fetch", wasmtime.FuncType([i32, i32], [i64]), self._fetch, access_caller=True
        )
        self.instance = linker.instantiate(self.store, self.module)
        init = self.export("_initialize", required=False)
        if init is not None:
            init(self.store)

    def export(self, name: str, *, required: bool = True) -> Any:
        value = self.instance.exports(self.store).get(name)
        assert value is not None or not required, f"missing export {name}"
        return value

    @property
    def memory(self) -> wasmtime.Memory:
        memory: wasmtime.Memory = self.export("memory")
        return memory

    def _log(self, caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        self.logs.append((level, bytes(memory.read(caller, ptr, ptr + length)).decode()))

    def _fetch(self, caller: wasmtime.Caller, ptr: int, length: int) -> int:
        memory, alloc = caller.get("memory"), caller.get("edgefn_alloc")
        assert isinstance(memory, wasmtime.Memory) and isinstance(alloc, wasmtime.Func)
        self.fetches.append(decode_request(bytes(memory.read(caller, ptr, ptr + length))))
        if isinstance(self.fetch_reply, int):
            return self.fetch_reply
        out = alloc(caller, len(self.fetch_reply))
        assert out != 0
        memory.write(caller, self.fetch_reply, out)
        return (out << 32) | len(self.fetch_reply)

    def call(self, method: str = "GET", uri: str = "/", headers: Headers = (), body: bytes = b"") -> Response:
        request = encode_request(method, uri, [("x-request-id", "req-1"), *headers], body)
        ptr = self.export("edgefn_alloc")(self.store, len(request))
        assert ptr != 0, "edgefn_alloc failed"
        self.memory.write(self.store, request, ptr)
        packed = self.export("handle")(self.store, ptr, len(request)) & 0xFFFF_FFFF_FFFF_FFFF
        resp_ptr, resp_len = packed >> 32, packed & 0xFFFF_FFFF
        assert resp_ptr + resp_len <= self.memory.data_len(self.store)
        response = decode_response(bytes(self.memory.read(self.store, resp_ptr, resp_ptr + resp_len)))
        free = self.export("edgefn_free", required=False)
        if free is not None:
            free(self.store, resp_ptr, resp_len)
        return response


@pytest.fixture(scope="session")
def c_wasm() -> dict[str, bytes]:
    """Every C example built once per session (cached next to the source across sessions)."""
    return {name: build_c(src).read_bytes() for name, src in C_EXAMPLES.items()}


@pytest.fixture(scope="session")
def wat_wasm() -> dict[str, bytes]:
    return {name: load_guest_bytes(src) for name, src in WAT_EXAMPLES.items()}


@pytest.fixture
def guest(c_wasm: dict[str, bytes], wat_wasm: dict[str, bytes]) -> Callable[..., Guest]:
    modules = {**c_wasm, **wat_wasm}

    def make(name: str, **kwargs: Any) -> Guest:
        return Guest(modules[name], **kwargs)

    return make


pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("name", [*C_EXAMPLES, *WAT_EXAMPLES])
def test_module_shape(name: str, guest: Callable[..., Guest]) -> None:
    g = guest(name)
    exports = {e.name: e.type for e in g.module.exports}
    assert isinstance(exports["memory"], wasmtime.MemoryType)
    assert exports["memory"].limits.min <= MEMORY_PAGES
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    alloc, handle = exports["edgefn_alloc"], exports["handle"]
    assert isinstance(alloc, wasmtime.FuncType) and isinstance(handle, wasmtime.FuncType)
    assert (alloc.params, alloc.results) == ([i32], [i32])
    assert (handle.params, handle.results) == ([i32, i32], [i64])
    # Only the ABI's host functions; zig's wasi-libc needs no WASI at all here.
    imports = {(i.module, i.name) for i in g.module.imports}
    assert imports <= {("edgefn", "log"), ("edgefn", "http_fetch")}


def test_hello_wat(guest: Callable[..., Guest]) -> None:
    g = guest("hello")
    for _ in range(3):  # a hot instance answers the same every time
        resp = g.call()
        assert resp == Response(200, [("content-type", "text/plain")], b"Hello from edgefn!\n")


def test_hello_wat_alloc_grows_and_fails_cleanly(guest: Callable[..., Guest]) -> None:
    g = guest("hello")
    big = b"x" * (5 * PAGE)
    assert g.call("POST", "/", [], big).status == 200
    assert g.memory.size(g.store) > 1
    alloc = g.export("edgefn_alloc")
    assert alloc(g.store, MEMORY_PAGES * PAGE) == 0  # beyond the store's limit
    assert alloc(g.store, 0xFFFF_FFF0 - (1 << 32)) == 0  # a "negative" i32 is a huge u32
    assert g.call().status == 200


def test_echo_wat(guest: Callable[..., Guest]) -> None:
    g = guest("echo-wat")
    for body in (b"ping", b"", bytes(range(256)) * 300):
        resp = g.call("PUT", "/e?x=1", [("a", "b")], body)
        assert resp == Response(200, [("x-method", "PUT")], body)
    assert g.memory.size(g.store) <= 3  # edgefn_free released each request's heap


def test_hello_c(guest: Callable[..., Guest]) -> None:
    resp = guest("hello-c").call()
    assert resp.status == 200
    assert resp.header("content-type") == "text/plain; charset=utf-8"
    assert resp.body == b"Hello from C"


def test_echo_c(guest: Callable[..., Guest]) -> None:
    g = guest("echo")
    resp = g.call("POST", "/echo?q=1", [("x-echo", "marco"), ("x-quote", 'a"b')], b"payload\x00bytes")
    assert resp.status == 200
    assert resp.header("x-echo") == "marco"
    summary, _, rest = resp.body.partition(b"\n")
    assert rest == b"payload\x00bytes"
    assert json.loads(summary) == {
        "method": "POST",
        "uri": "/echo?q=1",
        "headers": {"x-request-id": "req-1", "x-echo": "marco", "x-quote": 'a"b'},
        "body_length": 13,
    }
    assert g.call().header("x-echo") is None


def test_echo_c_hot_instance_does_not_leak(guest: Callable[..., Guest]) -> None:
    g = guest("echo")
    body = b"z" * 20_000
    g.call("POST", "/", [], body)
    pages = g.memory.size(g.store)
    for _ in range(200):
        assert g.call("POST", "/", [], body).body.endswith(body)
    assert g.memory.size(g.store) == pages


def test_json_api(guest: Callable[..., Guest]) -> None:
    g = guest("json-api")
    listing = g.call("GET", "/items")
    assert listing.status == 200 and listing.header("content-type") == "application/json"
    items = json.loads(listing.body)
    assert [i["id"] for i in items] == [1, 2, 3]

    one = g.call("GET", "/items/2", [("x-edgefn-param-id", "2")])
    assert one.status == 200
    assert json.loads(one.body) == {"id": 2, "name": "gadget", "price_cents": 1999}

    for method, uri, headers in [
        ("GET", "/items/9", [("x-edgefn-param-id", "9")]),
        ("GET", "/items/x", [("x-edgefn-param-id", "x")]),
        ("GET", "/nothing", []),
        ("DELETE", "/items", []),
    ]:
        missing = g.call(method, uri, headers)
        assert missing.status == 404, (method, uri)
        assert json.loads(missing.body) == {"error": "not found"}


def test_fetch_passes_upstream_response(guest: Callable[..., Guest]) -> None:
    reply = encode_response(201, [("content-type", "text/html")], b"<p>upstream</p>")
    g = guest("fetch", fetch_reply=reply)
    resp = g.call("GET", "/", [("x-target", "https://api.example.com/x")])
    assert resp == Response(201, [("content-type", "text/html")], b"<p>upstream</p>")
    assert g.fetches == [("GET", "https://api.example.com/x", [], b"")]
    assert g.logs == [(1, "fetch https://api.example.com/x -> 201")]

    # The URL may come percent-encoded in the query instead.
    g.call("GET", "/?a=1&url=http%3A%2F%2Fapi.example.com%2Fy%3Fz%3D1")
    assert g.fetches[-1][1] == "http://api.example.com/y?z=1"


@pytest.mark.parametrize("code", [-1, -3, -4])
def test_fetch_failure_answers_502(code: int, guest: Callable[..., Guest]) -> None:
    g = guest("fetch", fetch_reply=code)
    resp = g.call("GET", "/", [("x-target", "http://10.0.0.1/")])
    assert resp.status == 502
    assert resp.body == f"http_fetch failed: {code}\n".encode()
    assert g.logs[-1][0] == 2


def test_fetch_malformed_host_response_and_missing_target(guest: Callable[..., Guest]) -> None:
    g = guest("fetch", fetch_reply=encode_response(200, [], b"ok") + b"extra")
    assert g.call("GET", "/", [("x-target", "http://a/")]).body == b"http_fetch failed: -101\n"
    assert g.call("GET", "/").status == 400


def test_guest_sources_and_cache(c_wasm: dict[str, bytes]) -> None:
    src = C_EXAMPLES["echo"]
    sources = guest_sources(src)
    assert sources[0] == src and sources[-1].name == "edgefn.h"
    assert guest_sources(WAT_EXAMPLES["hello"]) == [WAT_EXAMPLES["hello"]]
    built = src.with_suffix(".wasm")
    before = built.stat().st_mtime_ns
    assert build_c(src) == built and built.stat().st_mtime_ns == before  # fresh: not rebuilt


def test_load_guest_bytes_errors(tmp_path: Path) -> None:
    (tmp_path / "f.rs").write_text("fn main() {}")
    with pytest.raises(GuestBuildError, match=r"expected a \.wasm, \.wat, \.c, \.py, \.js or \.mjs file"):
        load_guest_bytes(tmp_path / "f.rs")
    (tmp_path / "bad.wat").write_text('(module (func (export "x") (result i32))')
    with pytest.raises(GuestBuildError, match="is not valid WAT"):
        load_guest_bytes(tmp_path / "bad.wat")
    with pytest.raises(GuestBuildError, match="cannot read guest"):
        load_guest_bytes(tmp_path / "missing.wasm")


def test_build_c_reports_compiler_errors(tmp_path: Path, c_wasm: dict[str, bytes]) -> None:
    src = tmp_path / "broken.c"
    src.write_text('#include "edgefn.h"\nint oops(void) { return undeclared_name; }\n')
    with pytest.raises(GuestBuildError, match="undeclared_name") as info:
        load_guest_bytes(src)
    assert "compiling" in str(info.value) and not (tmp_path / "broken.wasm").exists()


def test_c_out_of_memory_answers_500_and_recovers(guest: Callable[..., Guest]) -> None:
    g = guest("echo")
    resp = g.call("POST", "/", [], b"a" * 200_000)  # fits the request, not request + response copies
    assert (resp.status, resp.body) == (500, b"out of memory")
    assert g.call("POST", "/", [], b"small").body.endswith(b"small")


def test_c_malformed_request_answers_500(guest: Callable[..., Guest]) -> None:
    g = guest("echo")
    ptr = g.export("edgefn_alloc")(g.store, 6)
    g.memory.write(g.store, b"\xff\x00\x00\x00GE", ptr)  # method length runs past the end
    packed = g.export("handle")(g.store, ptr, 6) & 0xFFFF_FFFF_FFFF_FFFF
    data = bytes(g.memory.read(g.store, packed >> 32, (packed >> 32) + (packed & 0xFFFF_FFFF)))
    assert decode_response(data).status == 500


@pytest.mark.parametrize(("after_s", "said"), [(0.0, True), (600.0, False)])
def test_a_slow_c_build_says_why_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    after_s: float,
    said: bool,
) -> None:
    """A compile still running after SLOW_BUILD_NOTICE_S (a machine's first, filling zig's cache)
    says so on the log; a quick one says nothing."""
    monkeypatch.setattr(process, "SLOW_BUILD_NOTICE_S", after_s)
    src = tmp_path / "hello.c"
    src.write_text(C_EXAMPLES["hello-c"].read_text())
    with caplog.at_level(logging.WARNING, logger="edgefn.build"):
        build_c(src)
    notices = [r.getMessage() for r in caplog.records if r.name == "edgefn.build"]
    assert notices == (
        [
            f"still compiling {src}: the first C build on a machine fills zig's cache with "
            "wasi-libc (about a minute, once)"
        ]
        if said
        else []
    )
