"""Requirement 8.1-8.2 across worker processes: a known load over a two-worker runner is counted
exactly once per request in the agent's /metrics, whichever worker served it, and the latency
histogram agrees with the count (each worker tallies in plain counters and folds them into its
prometheus-client files; plugins/metrics.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.metrics_text import sample
from tests.observability.test_metrics import promtool_ok
from tests.procs import REPO, wait_until, write_project
from tests.runner.integration.cluster import Cluster

HELLO = (REPO / "functions/hello/hello.wat").read_text()
REQUESTS = 300


def two_function_project(directory: Path) -> Path:
    """`/ready` to wait on, `/load` counted from zero by the load alone."""
    functions = "".join(
        f'\n[[functions]]\nname = "{name}"\nwasm = "hello.wat"\n'
        f'\n[[routes]]\npath = "/{name}"\nfunction = "{name}"\n'
        f'\n[[deployments]]\nfunction = "{name}"\nselector = "true"\n'
        for name in ("ready", "load")
    )
    return write_project(directory, f'project = "demo"\n{functions}', {"hello.wat": HELLO})


def served_per_process(metrics_dir: Path, function_id: str) -> list[float]:
    """Each process's own `wasm_invoke_count` for `function_id`, read from its prometheus-client file."""
    counts = []
    for path in metrics_dir.glob("counter_*.db"):
        total = sum(
            value
            for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path))
            if '"wasm_invoke_count"' in key and f'"{function_id}"' in key
        )
        if total:
            counts.append(total)
    return counts


def test_a_known_load_over_two_workers_is_counted_exactly(local_cluster: Cluster, tmp_path: Path) -> None:
    local_cluster.start_cp(["tokyo"])
    tokyo = local_cluster.start_runner("tokyo", {"region": "tokyo"}, workers=2)
    local_cluster.deploy(two_function_project(tmp_path / "p"))
    tokyo.wait_serving("/ready")
    tokyo.wait_serving("/load")  # its first 200 is counted too

    def one(_: int) -> int:  # a fresh connection each, 8 at once: both workers accept some
        return httpx.get(f"{tokyo.ingress}/load", timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(REQUESTS - 1))) == {200}

    load = {"function_id": "demo.load"}
    text = wait_until(
        lambda: (
            (t := httpx.get(f"{tokyo.metrics}/metrics", timeout=10).text)
            and sample(t, "wasm_invoke_count_total", **load) == REQUESTS
            and t
        ),
        what=f"{REQUESTS} invocations of demo.load in the runner's /metrics",
    )
    promtool_ok(text)
    per_worker = served_per_process(tokyo.state_dir / "metrics", "demo.load")
    assert len(per_worker) == 2 and sum(per_worker) == REQUESTS, per_worker
    assert sample(text, "wasm_invoke_latency_seconds_count", **load) == REQUESTS
    buckets = [
        (s.labels["le"], s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "wasm_invoke_latency_seconds_bucket" and s.labels["function_id"] == "demo.load"
    ]
    counts = [value for _le, value in buckets]
    assert buckets[-1] == ("+Inf", REQUESTS) and counts == sorted(counts), buckets
    latency_sum = sample(text, "wasm_invoke_latency_seconds_sum", **load)
    assert latency_sum is not None and 0 < latency_sum < REQUESTS * 10
    # The sum is the observations': each lies in its bucket, so it is bounded by the bucket edges.
    edges = [0.0] + [float(le) for le, _ in buckets[:-1]] + [float("inf")]
    within = [counts[i] - (counts[i - 1] if i else 0) for i in range(len(counts))]
    lowest = sum(edges[i] * n for i, n in enumerate(within))
    highest = sum(edges[i + 1] * n for i, n in enumerate(within) if n)
    assert lowest <= latency_sum <= highest, (lowest, latency_sum, highest)
    assert sample(text, "wasm_invoke_errors_total", **load) is None
