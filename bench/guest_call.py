"""Micro-benchmarks of the guest call path; prints medians of alternated rounds and ratios.

Run: .venv/bin/python bench/guest_call.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import wasmtime

from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    GuestRequest,
    InvokeError,
    builtin_host_functions,
    get_engine,
    wasm_from_source,
)
from edgehost.runtime import engine as engine_module
from edgehost.runtime.codec import encode_wire_request
from edgehost.runtime.fastcall import RawFunc, context_address
from edgehost.runtime.workers import GuestThreads

REPO = Path(__file__).parent.parent
GUESTS = REPO / "tests" / "guests"
ROUNDS = 7
REQ = GuestRequest("GET", "/users/7?x=1", [("x-request-id", "r1"), ("accept", "*/*")], b"hello")


def compiled(name: str, **spec: object) -> CompiledFunction:
    wasm = wasm_from_source((GUESTS / f"{name}.wat").read_bytes(), f"{name}.wat")
    return CompiledFunction.load(
        FunctionSpec(name, 1, **{"memory_pages": 16, "max_execution_ms": 50, **spec}),
        wasm,
        host_functions=builtin_host_functions(),
    )  # type: ignore[arg-type]


def per_call_us(fn: Callable[[], object], n: int, clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n * 1e6


def compare(
    label: str,
    cases: dict[str, tuple[Callable[[], object], int]],
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median µs per call, rounds alternated between cases so drift hits all equally; `clock`
    `time.thread_time` counts this thread's CPU only, which a loaded machine disturbs less."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (fn, n) in cases.items():
            samples[name].append(per_call_us(fn, n, clock))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\n{label}")
    base = next(iter(medians.values()))
    for name, value in medians.items():
        print(f"  {name:44s} {value:9.2f} µs   x{value / base:6.2f}")
    return medians


def bench_two_i32() -> None:
    store = wasmtime.Store(get_engine())
    store.set_epoch_deadline(1 << 40)
    module = wasmtime.Module(get_engine(), (GUESTS / "echo.wat").read_text())
    add = wasmtime.Instance(store, module, []).exports(store)["add"]
    assert isinstance(add, wasmtime.Func)
    raw = RawFunc(context_address(store), add._func, 2)

    def fast() -> int:
        raw.vals[0].i32 = 2
        raw.vals[1].i32 = 3
        raw.call()
        return raw.vals[0].i32

    assert fast() == add(store, 2, 3) == 5
    compare("2-i32 call", {"Func.__call__": (lambda: add(store, 2, 3), 2000), "fast path": (fast, 20000)})


def bench_invoke_and_instantiate() -> None:
    echo = compiled("echo")
    hot = echo.instantiate()
    wasi = compiled("wasi", entrypoint="stdout")
    compare(
        "invoke vs instantiate",
        {
            "hot invoke (echo, full encode/decode)": (lambda: hot.invoke(REQ, request_id="r"), 5000),
            "instantiate (echo, from CompiledFunction)": (echo.instantiate, 500),
            "instantiate (WASI-importing guest)": (wasi.instantiate, 500),
            "instantiate + first invoke (cold)": (
                lambda: echo.instantiate().invoke(REQ, request_id="r"),
                500,
            ),
        },
    )


def bench_hello() -> None:
    """The issue's figure: the example hello guest's hot invoke, request as the ingress builds it
    (the client's header bytes, the request id) through the response decoded."""
    wasm = wasm_from_source((REPO / "functions/hello/hello.wat").read_bytes(), "hello.wat")
    hot = CompiledFunction.load(
        FunctionSpec("hello", 1, memory_pages=16, max_execution_ms=50),
        wasm,
        host_functions=builtin_host_functions(),
    ).instantiate()
    fields = [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    request_id = b"0123456789abcdef"

    def invoke() -> object:
        wire = encode_wire_request(b"GET", b"/hello", [*fields, (b"x-request-id", request_id)], b"")
        return hot.invoke(wire, request_id="0123456789abcdef")

    assert hot.invoke(encode_wire_request(b"GET", b"/", fields, b""), request_id="r").status == 200
    compare(
        "hello hot invoke, thread CPU (goal <= 10 µs)",
        {"encode + alloc + call + decode": (invoke, 20000)},
        time.thread_time,
    )


def bench_inline_vs_executor() -> None:
    hot = compiled("echo").instantiate()
    pool = ThreadPoolExecutor(1)
    threads = GuestThreads(1)
    loop = asyncio.new_event_loop()

    async def inline(n: int) -> None:
        for _ in range(n):
            hot.invoke(REQ, request_id="r")

    async def threaded(n: int) -> None:
        for _ in range(n):
            await loop.run_in_executor(pool, lambda: hot.invoke(REQ, request_id="r"))

    async def guest_threads(n: int) -> None:
        for _ in range(n):
            await threads.run(lambda: hot.invoke(REQ, request_id="r"))

    compare(
        "from asyncio: inline vs thread hand-offs",
        {
            "inline in the event loop": (lambda: loop.run_until_complete(inline(100)), 20),
            "loop.run_in_executor(ThreadPoolExecutor)": (lambda: loop.run_until_complete(threaded(100)), 20),
            "GuestThreads.run (queue + call_soon_threadsafe)": (
                lambda: loop.run_until_complete(guest_threads(100)),
                20,
            ),
        },
    )
    print("  (figures are per 100 invokes)")
    loop.close()
    pool.shutdown()
    threads.close()


def bench_timeout_and_ticker() -> None:
    runaway = compiled("loop", max_execution_ms=50)
    overshoot = []
    for _ in range(10):
        instance = runaway.instantiate()
        start = time.perf_counter()
        try:
            instance.invoke(REQ, request_id="r")
        except InvokeError:
            overshoot.append((time.perf_counter() - start) * 1000 - 50)
    print(f"\ntimeout at max_execution_ms=50 (tick {engine_module.TICK_MS} ms): answered ")
    print(f"  overshoot median {statistics.median(overshoot):.1f} ms, max {max(overshoot):.1f} ms")
    ticker = engine_module._ticker
    assert ticker is not None
    # The timer's ticks run on short-lived threads of the C library: count the whole process.
    time.sleep(2 * ticker.IDLE_S + 0.5)  # past the parking thread's two looks
    before = time.process_time()
    time.sleep(3)
    cpu = time.process_time() - before
    print(
        f"  process CPU, idle after the last deadline: {cpu / 3 * 1000:.2f} ms per second"
        f" (parked: {ticker.parked})"
    )


if __name__ == "__main__":
    bench_two_i32()
    bench_hello()
    bench_invoke_and_instantiate()
    bench_inline_vs_executor()
    bench_timeout_and_ticker()
