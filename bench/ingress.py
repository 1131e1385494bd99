"""Ingress throughput and latency of the hello guest through `edgefn dev` vs the bare Litestar baseline.

Rounds alternate between the two servers so load from other processes on the box hits both alike;
the medians of the rounds and their ratio are reported. Each round also records the server
process's CPU time per request (user + system, all threads): on a shared machine requests/s
moves with whatever else runs, while CPU per request is what a dedicated core would pay, so
its ratio is the steadier estimate of throughput per core.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import servers
from bench.common import Row, median, say
from bench.loadgen import LoadResult, load

GOAL = 0.8


@dataclass
class Round:
    load: LoadResult
    cpu_us: float  # server CPU time per request


def measure(target: servers.Target, seconds: float, connections: int) -> Round:
    cpu = psutil.Process(target.pid).cpu_times
    before = cpu()
    result = load(target.url, seconds, connections)
    after = cpu()
    spent = (after.user + after.system) - (before.user + before.system)
    return Round(result, spent / max(1, result.requests) * 1e6)


def alternate(
    targets: dict[str, servers.Target], rounds: int, seconds: float, connections: int
) -> dict[str, list[Round]]:
    results: dict[str, list[Round]] = {name: [] for name in targets}
    for target in targets.values():  # warm-up: pools filled, code paths hot
        load(target.url, 1.0, connections)
    for i in range(rounds):
        order = list(targets.items()) if i % 2 == 0 else list(reversed(targets.items()))
        for name, target in order:
            measured = measure(target, seconds, connections)
            results[name].append(measured)
            result = measured.load
            say(
                f"ingress round {i + 1}/{rounds} {name}: {result.rps:,.0f} req/s p50 {result.p50_ms:.2f} ms "
                f"p99 {result.p99_ms:.2f} ms, {measured.cpu_us:.0f} µs CPU/request, "
                f"non-2xx {result.non_2xx} errors {result.errors}"
            )
    return results


def rows_for(results: dict[str, list[Round]], connections: int) -> list[Row]:
    ours, base = results["edgefn"], results["baseline"]
    rps, base_rps = median([r.load.rps for r in ours]), median([r.load.rps for r in base])
    cpu, base_cpu = median([r.cpu_us for r in ours]), median([r.cpu_us for r in base])
    note = f"{ours[0].load.tool} c={connections}, {len(ours)} rounds"
    bad = sum(r.load.non_2xx + r.load.errors for r in ours)
    return [
        Row(
            "ingress",
            "requests/s",
            rps,
            "req/s",
            base_rps,
            "bare Litestar",
            f">= {GOAL} x",
            rps / base_rps >= GOAL,
            note=note + (f", {bad} non-2xx/errors" if bad else ""),
        ),
        Row(
            "ingress",
            "requests per CPU-second (1e6 / µs per request)",
            1e6 / cpu,
            "req/s",
            1e6 / base_cpu,
            "bare Litestar",
            f">= {GOAL} x",
            base_cpu / cpu >= GOAL,
            note=f"{cpu:.0f} vs {base_cpu:.0f} µs server CPU per request",
        ),
        *(
            Row(
                "ingress",
                f"{name} latency",
                median([getattr(r.load, attr) for r in ours]),
                "ms",
                median([getattr(r.load, attr) for r in base]),
                "bare Litestar",
                note=note,
            )
            for name, attr in (("p50", "p50_ms"), ("p99", "p99_ms"))
        ),
    ]


def run(rounds: int = 5, seconds: float = 5.0, connections: int = 16) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-ingress-") as tmp:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        with servers.dev(project, root / "logs") as dev, servers.baseline(root / "logs") as base:
            targets = {"edgefn": servers.Target(f"{dev.ingress}/hello", dev.proc.pid), "baseline": base}
            return rows_for(alternate(targets, rounds, seconds, connections), connections)
