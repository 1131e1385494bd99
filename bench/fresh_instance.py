"""`fresh_instance = true` against the same guest reusing its hot instance, through `edgefn dev`.

The hello guest is deployed twice on one server, once with `fresh_instance = true` (each request
takes an instance made ahead, which is destroyed after it; a background thread makes the next) and
once without (one hot instance reused). Rounds alternate between the two routes, at one connection
(the refill has the gap between requests to work in) and at several (it competes with requests
for the CPU), so the ratio is what serving once costs per request. In-process figures for one
instantiation and one destruction of an instance say where the difference goes. Both allow 1 s
per request, so a stall of the shared machine shows in p99 rather than as a 504.
The same comparison runs for the componentize-py echo component (CPython inside; its
instantiation costs milliseconds) when the toolchain can build it (tests/components.py).
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
from edgehost.toolchains import python
from tests.components import ECHO_PY, python_component
from tests.observability.metrics_text import sample
from tests.procs import get, wait_until, write_project

HELLO = REPO / "functions" / "hello" / "hello.wat"
# A guest's file and the limits both of its functions get; {ahead} is the fresh one's min_hot_instances.
PROJECT = """project = "bench"
[[functions]]
name = "kept"
wasm = "{file}"
{limits}
[[functions]]
name = "fresh"
wasm = "{file}"
{limits}
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
HELLO_LIMITS = "max_execution_ms = 1000"
COMPONENT_LIMITS = "max_execution_ms = 10000\nmemory_pages = 2048"


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
    rows += compare_routes(
        "hello", "hello.wat", HELLO.read_bytes(), HELLO_LIMITS, rounds, seconds, connection_counts
    )
    if python.toolchain_version() is None:
        say("componentize-py is not installed: no component figures for fresh_instance")
        return rows
    echo = python_component(ECHO_PY).read_bytes()
    return rows + compare_routes("echo_py", "echo.wasm", echo, COMPONENT_LIMITS, rounds, seconds, (1,))


def compare_routes(
    guest: str,
    file: str,
    wasm: bytes,
    limits: str,
    rounds: int,
    seconds: float,
    connection_counts: tuple[int, ...],
) -> list[Row]:
    """`guest` deployed twice on one `edgefn dev`, with and without `fresh_instance`, rounds alternated."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        text = PROJECT.format(file=file, limits=limits, ahead=2)
        project = write_project(root / "p", text, {file: wasm})
        with servers.dev(project, root / "logs") as dev:
            for name in ("kept", "fresh"):  # a component compiles after `dev` is ready
                wait_until(lambda n=name: get(f"{dev.ingress}/{n}").status_code == 200, timeout=900)
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
                            f"fresh-instance {guest} c={connections} {name}: {result.rps:,.0f} req/s "
                            f"p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms "
                            f"non-2xx {result.non_2xx} errors {result.errors}"
                        )
                rows += _rows(results, f"{guest} c={connections}")
            rows.append(_ready_share(dev.metrics, guest))
    return rows


def _ready_share(metrics_url: str, guest: str) -> Row:
    """How many of the fresh function's requests found an instance made ahead (the rest made
    their own on the request path, the refill having fallen behind)."""
    text = get(f"{metrics_url}/metrics").text
    fresh = {"function_id": "bench.fresh"}
    served = sample(text, "wasm_invoke_count_total", **fresh) or 0.0
    ready = sample(text, "edgefn_pool_reuses_total", **fresh) or 0.0
    return Row(
        "fresh-instance", f"requests finding one made ahead, {guest}", 100 * ready / max(1.0, served), "%"
    )


def _rows(results: dict[str, list[tuple[LoadResult, float]]], case: str) -> list[Row]:
    def med(name: str, pick: str) -> float:
        if pick == "cpu":
            return median([cpu_us for _, cpu_us in results[name]])
        return median([getattr(r, pick) for r, _ in results[name]])

    note = f"{len(results['fresh'])} rounds"
    bad = sum(r.non_2xx + r.errors for r, _ in results["fresh"])
    note += f", {bad} non-2xx/errors" if bad else ""
    return [
        Row(
            "fresh-instance",
            f"requests/s {case}",
            med("fresh", "rps"),
            "req/s",
            med("kept", "rps"),
            "hot instance reused",
            note=note,
        ),
        Row(
            "fresh-instance",
            f"p50 {case}",
            med("fresh", "p50_ms"),
            "ms",
            med("kept", "p50_ms"),
            "hot instance reused",
            note=note,
        ),
        Row(
            "fresh-instance",
            f"p99 {case}",
            med("fresh", "p99_ms"),
            "ms",
            med("kept", "p99_ms"),
            "hot instance reused",
            note=note,
        ),
        Row(
            "fresh-instance",
            f"server CPU per request {case}",
            med("fresh", "cpu"),
            "µs",
            med("kept", "cpu"),
            "hot instance reused",
            note=note,
        ),
    ]
