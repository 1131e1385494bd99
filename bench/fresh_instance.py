"""`fresh_instance = true` against the same guest reusing its hot instance, through `edgefn dev`.

The hello guest is deployed twice on one server, once with `fresh_instance = true` (each request
takes an instance made ahead, which is destroyed after it; a background thread makes the next) and
once without (one hot instance reused). Rounds alternate between the two routes, at one connection
(the refill has the gap between requests to work in) and at several (it competes with requests
for the CPU), so the ratio is what serving once costs per request. In-process figures for one
instantiation and one destruction of an instance say where the difference goes. Both allow 1 s
per request, so a stall of the shared machine shows in p99 rather than as a 504.
Run: .venv/bin/python -m bench --only fresh-instance
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import psutil

from bench import servers
from bench.common import REPO, Row, median, say
from bench.guest_call import compare
from bench.loadgen import LoadResult, load
from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    GuestRequest,
    builtin_host_functions,
    wasm_from_source,
)
from tests.procs import write_project

HELLO = REPO / "functions" / "hello" / "hello.wat"
PROJECT = """project = "bench"
[[functions]]
name = "kept"
wasm = "hello.wat"
max_execution_ms = 1000
[[functions]]
name = "fresh"
wasm = "hello.wat"
max_execution_ms = 1000
fresh_instance = true
min_hot_instances = {ahead}
[[routes]]
path = "/kept"
function = "kept"
[[routes]]
path = "/fresh"
function = "fresh"
[[deployments]]
function = "kept"
[[deployments]]
function = "fresh"
"""


def instance_costs() -> dict[str, float]:
    """µs per hot invoke, per instantiation, and per instantiate + invoke + destroy (serving once)."""
    wasm = wasm_from_source(HELLO.read_bytes(), "hello.wat")
    spec = FunctionSpec("bench.hello", 1, memory_pages=16, max_execution_ms=50)
    compiled = CompiledFunction.load(spec, wasm, host_functions=builtin_host_functions())
    request = GuestRequest("GET", "/hello", [("host", "bench")], b"")
    hot = compiled.instantiate()

    def once() -> None:
        instance = compiled.instantiate()
        instance.invoke(request, request_id="r")
        instance.close()

    return compare(
        "serving once, in process (ratios against a hot invoke)",
        {
            "hot invoke (hello)": (lambda: hot.invoke(request, request_id="r"), 5000),
            "instantiate (InstancePre)": (lambda: compiled.instantiate().close(), 500),
            "instantiate + invoke + destroy": (once, 500),
        },
    )


def run(rounds: int = 5, seconds: float = 3.0, connection_counts: tuple[int, ...] = (1, 8)) -> list[Row]:
    costs = instance_costs()
    rows = [
        Row(
            "fresh-instance",
            "instantiate + destroy, in process",
            costs["instantiate (InstancePre)"],
            "µs",
            costs["hot invoke (hello)"],
            "hot invoke",
        )
    ]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        project = write_project(root / "p", PROJECT.format(ahead=2), {"hello.wat": HELLO.read_text()})
        with servers.dev(project, root / "logs") as dev:
            cpu = psutil.Process(dev.proc.pid).cpu_times
            for connections in connection_counts:
                results: dict[str, list[tuple[LoadResult, float]]] = {"kept": [], "fresh": []}
                for name in results:  # warm-up
                    load(f"{dev.ingress}/{name}", 1.0, connections)
                for i in range(rounds):
                    for name in list(results) if i % 2 == 0 else list(reversed(results)):
                        before = cpu()
                        result = load(f"{dev.ingress}/{name}", seconds, connections)
                        after = cpu()
                        spent = (after.user + after.system) - (before.user + before.system)
                        results[name].append((result, spent / max(1, result.requests) * 1e6))
                        say(
                            f"fresh-instance c={connections} {name}: {result.rps:,.0f} req/s "
                            f"p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms "
                            f"non-2xx {result.non_2xx} errors {result.errors}"
                        )
                rows += _rows(results, connections)
    return rows


def _rows(results: dict[str, list[tuple[LoadResult, float]]], connections: int) -> list[Row]:
    def med(name: str, pick: str) -> float:
        if pick == "cpu":
            return median([cpu_us for _, cpu_us in results[name]])
        return median([getattr(r, pick) for r, _ in results[name]])

    note = f"c={connections}, {len(results['fresh'])} rounds"
    bad = sum(r.non_2xx + r.errors for r, _ in results["fresh"])
    note += f", {bad} non-2xx/errors" if bad else ""
    return [
        Row(
            "fresh-instance",
            f"requests/s c={connections}",
            med("fresh", "rps"),
            "req/s",
            med("kept", "rps"),
            "hot instance reused",
            note=note,
        ),
        Row(
            "fresh-instance",
            f"p50 c={connections}",
            med("fresh", "p50_ms"),
            "ms",
            med("kept", "p50_ms"),
            "hot instance reused",
            note=note,
        ),
        Row(
            "fresh-instance",
            f"p99 c={connections}",
            med("fresh", "p99_ms"),
            "ms",
            med("kept", "p99_ms"),
            "hot instance reused",
            note=note,
        ),
        Row(
            "fresh-instance",
            f"server CPU per request c={connections}",
            med("fresh", "cpu"),
            "µs",
            med("kept", "cpu"),
            "hot instance reused",
            note=note,
        ),
    ]
