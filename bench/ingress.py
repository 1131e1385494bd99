"""Ingress throughput and latency of the hello guest through `edgefn dev` vs the bare Litestar baseline.

Rounds alternate between the two servers so load from other processes on the box hits both alike;
the medians of the rounds and their ratio are reported.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import servers
from bench.common import Row, median, say
from bench.loadgen import LoadResult, load

GOAL = 0.8


def alternate(
    urls: dict[str, str], rounds: int, seconds: float, connections: int
) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {name: [] for name in urls}
    for url in urls.values():  # warm-up: pools filled, code paths hot
        load(url, 1.0, connections)
    for i in range(rounds):
        order = list(urls.items()) if i % 2 == 0 else list(reversed(urls.items()))
        for name, url in order:
            result = load(url, seconds, connections)
            results[name].append(result)
            say(
                f"ingress round {i + 1}/{rounds} {name}: {result.rps:,.0f} req/s p50 {result.p50_ms:.2f} ms "
                f"p99 {result.p99_ms:.2f} ms non-2xx {result.non_2xx} errors {result.errors}"
            )
    return results


def rows_for(results: dict[str, list[LoadResult]], connections: int) -> list[Row]:
    ours, base = results["edgefn"], results["baseline"]
    rps, base_rps = median([r.rps for r in ours]), median([r.rps for r in base])
    tool = ours[0].tool
    note = f"{tool} c={connections}, {len(ours)} rounds"
    bad = sum(r.non_2xx + r.errors for r in ours)
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
            "p50 latency",
            median([r.p50_ms for r in ours]),
            "ms",
            median([r.p50_ms for r in base]),
            "bare Litestar",
            note=note,
        ),
        Row(
            "ingress",
            "p99 latency",
            median([r.p99_ms for r in ours]),
            "ms",
            median([r.p99_ms for r in base]),
            "bare Litestar",
            note=note,
        ),
    ]


def run(rounds: int = 5, seconds: float = 5.0, connections: int = 16) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-ingress-") as tmp:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        with servers.dev(project, root / "logs") as dev, servers.baseline(root / "logs") as base_url:
            urls = {"edgefn": f"{dev.ingress}/hello", "baseline": base_url}
            return rows_for(alternate(urls, rounds, seconds, connections), connections)
