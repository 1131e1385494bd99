"""wasi:http components beside ABI v1: requests/s through a real runner socket, and the host's own
cost per request, instantiation and compilation.

- Through the socket: `edgefn dev` serves the ABI v1 hello guest and the minimal component
  (tests/guests/components/minimal.wat: a core module against the canonical ABI of wasi:http that
  answers from its own code, so what it costs is the host's); rounds alternate between the two,
  and the figure is the median of each. Goal: minimal component >= 0.5 of ABI v1 hello.
- In process: µs per `invoke` on a hot instance (host work plus a guest that does almost
  nothing), per instantiation, and compile vs deserialize of the serialized cache.
- The Python echo component (componentize-py, tests/components.py), when the toolchain is
  installed: compile, cache load, instantiate and hot invoke, and its host/guest split.

Run: .venv/bin/python -m bench.components [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import REPO, Row, machine, median, say, table
from bench.loadgen import load
from bench.servers import dev
from edgehost.runtime import FunctionSpec, GuestRequest, builtin_host_functions, load_guest, wasm_from_source
from edgehost.runtime.guests import CompiledGuest
from tests.component_guests import build_component
from tests.components import ECHO_PY, python_component
from tests.procs import write_project

REQUEST = GuestRequest("GET", "/hello", [("host", "bench"), ("accept", "*/*")], b"")
PROJECT = """project = "bench"
[[functions]]
name = "hello"
wasm = "hello.wat"
min_hot_instances = 1
[[functions]]
name = "minimal"
wasm = "minimal.wasm"
min_hot_instances = 1
[[routes]]
path = "/hello"
function = "hello"
[[routes]]
path = "/minimal"
function = "minimal"
[[deployments]]
function = "hello"
[[deployments]]
function = "minimal"
"""


def per_call_us(fn: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def compile_then_load(spec: FunctionSpec, wasm: bytes) -> tuple[CompiledGuest, float, float]:
    """The component compiled into a fresh serialized cache, the seconds that took, and the
    milliseconds of loading it again from that cache (what a runner restart pays)."""
    cache = Path(tempfile.mkdtemp()) / "guest.cwasm"
    started = time.perf_counter()
    compiled = load_guest(spec, wasm, host_functions=(), cache_path=cache)
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    load_guest(spec, wasm, host_functions=(), cache_path=cache)
    return compiled, compile_s, (time.perf_counter() - started) * 1000


def in_process(rounds: int) -> list[Row]:
    spec = FunctionSpec("bench", 1, memory_pages=16, max_execution_ms=1000)
    hello_wasm = wasm_from_source((REPO / "functions/hello/hello.wat").read_bytes(), "hello.wat")
    hello = load_guest(spec, hello_wasm, host_functions=builtin_host_functions())
    minimal_wasm = build_component("minimal")
    minimal, compile_s, load_ms = compile_then_load(spec, minimal_wasm)
    hot_hello, hot_minimal = hello.instantiate(), minimal.instantiate()
    samples: dict[str, list[float]] = {"hello": [], "minimal": [], "inst hello": [], "inst minimal": []}
    for _ in range(rounds):
        samples["hello"].append(per_call_us(lambda: hot_hello.invoke(REQUEST, request_id="r"), 5000))
        samples["minimal"].append(per_call_us(lambda: hot_minimal.invoke(REQUEST, request_id="r"), 5000))
        samples["inst hello"].append(per_call_us(lambda: hello.instantiate().close(), 500))
        samples["inst minimal"].append(per_call_us(lambda: minimal.instantiate().close(), 500))
    med = {name: statistics.median(values) for name, values in samples.items()}
    return [
        Row(
            "components", "hot invoke, minimal component", med["minimal"], "µs", med["hello"], "ABI v1 hello"
        ),
        Row(
            "components",
            "instantiate, minimal component",
            med["inst minimal"] / 1000,
            "ms",
            med["inst hello"] / 1000,
            "ABI v1 hello",
        ),
        Row("components", "compile minimal component (first load)", compile_s * 1000, "ms"),
        Row("components", "load minimal component from .cwasm cache", load_ms, "ms"),
    ]


def python_figures(rounds: int) -> list[Row]:
    """The componentize-py echo component, when the test fixture that builds it exists here."""
    from edgehost.toolchains import python

    if python.toolchain_version() is None:
        say("componentize-py is not installed: no Python component figures")
        return []
    wasm = python_component(ECHO_PY).read_bytes()
    spec = FunctionSpec("bench", 1, memory_pages=1024, max_execution_ms=5000)
    compiled, compile_s, load_ms = compile_then_load(spec, wasm)
    started = time.perf_counter()
    instance = compiled.instantiate()
    instantiate_ms = (time.perf_counter() - started) * 1000
    instance.invoke(REQUEST, request_id="warm")
    hot = median([per_call_us(lambda: instance.invoke(REQUEST, request_id="r"), 200) for _ in range(rounds)])
    host_share = host_fraction(lambda: instance.invoke(REQUEST, request_id="r"), 200)
    return [
        Row("components", "compile Python component", compile_s, "s"),
        Row("components", "load Python component from .cwasm cache", load_ms, "ms"),
        Row("components", "instantiate Python component", instantiate_ms, "ms"),
        Row("components", "hot invoke, Python component", hot, "µs"),
        Row("components", "  of which host (profiled estimate)", hot * host_share, "µs"),
        Row("components", "  of which guest (profiled estimate)", hot * (1 - host_share), "µs"),
    ]


def host_fraction(fn: Callable[[], object], n: int) -> float:
    """The host's share of a call: everything but the time in `handle` outside host functions
    (cProfile: the guest call's cumulative time less the callbacks'). The profiler slows the
    host side, so the share is an upper bound."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        fn()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = guest_call = callbacks = 0.0
    for (filename, _, name), (_, _, _, cumulative, _) in stats.items():
        if name == "invoke" and filename.endswith("component/instance.py"):
            total += cumulative
        elif name == "wasmtime_component_func_call":
            guest_call += cumulative
        elif name == "run" and filename.endswith("component/calls.py"):
            callbacks += cumulative
    return 1 - (guest_call - callbacks) / total if total else float("nan")


def through_socket(seconds: float, rounds: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as root:
        files: dict[str, str | bytes] = {
            "hello.wat": (REPO / "functions/hello/hello.wat").read_text(),
            "minimal.wasm": build_component("minimal"),
        }
        project = write_project(Path(root) / "bench", PROJECT, files)
        with dev(project, Path(root) / "logs") as server:
            rates: dict[str, list[float]] = {"hello": [], "minimal": []}
            failed: dict[str, int] = {"hello": 0, "minimal": 0}
            for name in rates:
                load(f"{server.ingress}/{name}", 1.0)  # warm-up
            for index in range(rounds):
                for name in rates:
                    result = load(f"{server.ingress}/{name}", seconds)
                    failed[name] += result.non_2xx + result.errors
                    rates[name].append(result.rps)
                    say(f"round {index + 1}: {name} {result.rps:,.0f} req/s ({result.tool})")
    hello, minimal = median(rates["hello"]), median(rates["minimal"])
    ratio = minimal / hello
    return [
        Row(
            "components",
            "req/s through a runner socket, minimal component",
            minimal,
            "req/s",
            hello,
            "ABI v1 hello",
            ">= 0.5x",
            ratio >= 0.5,
            note=f"non-2xx or errors: {failed['minimal']} (hello {failed['hello']})",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    say(machine())
    rows = in_process(args.rounds) + python_figures(args.rounds) + through_socket(args.seconds, args.rounds)
    print(table(rows))


if __name__ == "__main__":
    main()
