"""Requirement 8.1-8.3 and 8.5: exact counts after known invocations, multiprocess collection, promtool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.metrics_text import sample
from tests.observability.projects import project
from tests.procs import REPO, dev_server, get

PROMTOOL = "/usr/bin/promtool"


def promtool_ok(text: str) -> None:
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


def test_counts_after_known_invocations_and_cache_hits_after_restart(tmp_path: Path) -> None:
    proj = project(tmp_path / "p", "metered", ("hello", "boom", "log"))
    with dev_server(proj, tmp_path / "logs") as dev:
        for path, times in (("/hello", 3), ("/boom", 2), ("/log", 1), ("/nowhere", 2)):
            for _ in range(times):
                get(f"{dev.ingress}{path}")
        text = get(f"{dev.metrics}/metrics").text
    promtool_ok(text)
    count = "wasm_invoke_count_total"
    assert sample(text, count, function_id="metered.hello") == 3
    assert sample(text, count, function_id="metered.boom") == 2
    assert sample(text, count, function_id="metered.log") == 1
    assert sample(text, "wasm_invoke_latency_seconds_count", function_id="metered.hello") == 3
    assert sample(text, "wasm_invoke_errors_total", function_id="metered.boom", error_code="trap") == 2
    assert sample(text, "wasm_invoke_errors_total", function_id="metered.hello") is None
    assert (sample(text, "wasm_cache_misses_total"), sample(text, "wasm_cache_hits_total")) == (3, 0)
    assert sample(text, "edgefn_deployments", state="cached") == 3
    assert sample(text, "edgefn_sync_connected") == 1
    assert sample(text, "edgefn_pool_instances", function_id="metered.hello") == 1
    # What each plugin and the core collect at scrape time (`edgehost_metric_collectors`).
    hello = {"function_id": "metered.hello"}
    assert sample(text, "edgefn_pool_instances_created_total", **hello) == 1  # the warm one...
    assert sample(text, "edgefn_pool_reuses_total", **hello) == 3  # ...served all three
    assert sample(text, "edgefn_pool_evictions_total", **hello) == 0
    assert sample(text, "edgefn_quota_running", tenant="metered") == 0
    assert (sample(text, "edgefn_cache_bytes") or 0) > 0
    assert (sample(text, "edgefn_sync_revision") or 0) > 0
    assert sample(text, "edgefn_quota_blocked_tenants") == 0
    # A restart finds every artifact in the local cache, verified.
    with dev_server(proj, tmp_path / "logs2") as dev:
        text = get(f"{dev.metrics}/metrics").text
    assert (sample(text, "wasm_cache_misses_total"), sample(text, "wasm_cache_hits_total")) == (0, 3)
    promtool_ok(text)


WRITER = """
import sys
from edgehost.contracts import Invocation
from edgehost.plugins import metrics
for i in range(int(sys.argv[1])):
    inv = Invocation("r", "n", "GET", "h", "/", start_timestamp=1.0, end_timestamp=1.002,
                     tenant="t", function_id=sys.argv[2], status=200)
    if i == 0 and len(sys.argv) > 3:
        inv.error_code = sys.argv[3]
    metrics.edgehost_invocation_finished(inv)
"""
# A worker holding 2 hot instances until its stdin closes.
POOL_HOLDER = """
import sys
from edgehost.plugins import metrics
metrics.edgehost_pool_size_changed("p.fn", 2)
print("held", flush=True)
sys.stdin.read()
"""
READER = "import sys; from edgehost.plugins import metrics; sys.stdout.write(metrics.exposition().decode())"
# A worker counting on its event loop, stopping before its next fold is due.
LOOP_WRITER = """
import asyncio, sys
from edgehost.contracts import Invocation
from edgehost.plugins import metrics
async def serve():
    for _ in range(int(sys.argv[1])):
        inv = Invocation("r", "n", "GET", "h", "/", start_timestamp=1.0, end_timestamp=1.002,
                         tenant="t", function_id="p.loop", status=200)
        metrics.edgehost_invocation_finished(inv)
asyncio.run(serve())
"""


def test_multiprocess_collection_sums_processes_writing_one_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def python(code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    python(WRITER, "2", "p.fn")
    python(WRITER, "3", "p.fn", "timeout")
    python(WRITER, "1", 'we"ird\\\nfn\u00e9\udcff', "trap")
    python(LOOP_WRITER, "7")  # its counts are folded at exit, not lost with the process
    text = python(READER)
    promtool_ok(text)
    assert sample(text, "wasm_invoke_count_total", function_id="p.fn") == 5
    assert sample(text, "wasm_invoke_latency_seconds_count", function_id="p.fn") == 5
    assert sample(text, "wasm_invoke_errors_total", function_id="p.fn", error_code="timeout") == 1
    assert sample(text, "wasm_invoke_count_total", function_id='we"ird\\\nfn??') == 1
    assert sample(text, "wasm_invoke_count_total", function_id="p.loop") == 7
    assert sample(text, "wasm_invoke_latency_seconds_bucket", function_id="p.loop", le="0.0025") == 7
    # Live gauges are summed over the processes alive; a dead worker's instances stop counting.
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", POOL_HOLDER],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for holder in holders:
            assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert sample(python(READER), "edgefn_pool_instances", function_id="p.fn") == 4
        holders[0].kill()
        holders[0].wait(10)
        assert sample(python(READER), "edgefn_pool_instances", function_id="p.fn") == 2
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(10)


def test_malformed_label_values_never_break_the_exposition() -> None:
    from edgehost.contracts import Invocation
    from edgehost.plugins import metrics

    hostile = ['a"b', "back\\slash", "new\nline", "\udcff\u2603", "x" * 5000, "", "}{,=#"]
    for value in hostile:
        inv = Invocation("r", "n", "GET", "h", "/", start_timestamp=1.0, end_timestamp=2.0)
        inv.function_id, inv.error_code = value, value or "trap"
        metrics.edgehost_invocation_finished(inv)
        metrics.edgehost_pool_size_changed(value, 1)
    text = metrics.exposition().decode()
    promtool_ok(text)
    assert sample(text, "wasm_invoke_count_total", function_id="new\nline") == 1
    assert sample(text, "wasm_invoke_count_total", function_id="x" * 128) == 1
    assert sample(text, "wasm_invoke_count_total", function_id="unknown") == 1


def test_grafana_dashboard_queries_parse_and_name_exported_metrics(tmp_path: Path) -> None:
    import json
    import re

    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs = [
        e.replace("$__rate_interval", "5m").replace("$instance", ".*").replace("$function_id", ".*")
        for e in exprs
    ]
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: dashboard\n  rules:\n"
        + "".join(f"  - record: dashboard:q{i}\n    expr: {json.dumps(e)}\n" for i, e in enumerate(exprs))
    )
    checked = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = set(re.findall(r"\b((?:wasm|edgefn)_[a-z_]+)\{", " ".join(exprs)))
    # Each plugin and the core export their own metrics (`edgehost_metric_collectors`): look in all of them.
    sources = "".join(
        path.read_text() for folder in ("edgehost", "plugins") for path in (REPO / folder).rglob("*.py")
    )
    for name in names:  # every metric the dashboard reads is one the runner exports
        assert re.sub(r"_(total|bucket)$", "", name) in sources, name


def test_tallies_fold_into_the_same_series_as_observing_each_request() -> None:
    """Property: random latencies (and exact bucket bounds, where `le` is inclusive) counted
    through the per-process tallies, on a loop and off one, expose the buckets, count and sum
    that prometheus-client's own `observe()` gives for the same values."""
    import asyncio
    import random

    from prometheus_client import Histogram

    from edgehost.contracts import Invocation
    from edgehost.plugins import metrics

    rng = random.Random(19)
    bounds = list(metrics.LATENCY_BUCKETS)
    latencies = [rng.choice(bounds) for _ in range(50)] + [rng.uniform(0, 12) for _ in range(200)]
    latencies += [10 ** rng.uniform(-6, 0) for _ in range(200)] + [0.0, 11.0]
    registry = CollectorRegistry()
    expected = Histogram("expected", "", buckets=metrics.LATENCY_BUCKETS, registry=registry)
    for seconds in latencies:
        expected.observe(seconds)

    def finish(fid: str, seconds: float) -> None:
        inv = Invocation("r", "n", "GET", "h", "/", start_timestamp=0.0, end_timestamp=seconds)
        inv.function_id, inv.version, inv.error_code = fid, 3, "trap" if seconds > 5 else None
        metrics.edgehost_invocation_finished(inv)

    async def on_a_loop() -> bytes:
        for seconds in latencies:
            finish("tally.loop", seconds)
        return metrics.exposition()  # before the fold timer: the scrape folds first

    for seconds in latencies:
        finish("tally.direct", seconds)
    text = asyncio.run(on_a_loop()).decode()
    promtool_ok(text)
    want_samples = next(iter(registry.collect())).samples
    want = {s.name.replace("expected", "x"): s for s in want_samples}
    for fid in ("tally.direct", "tally.loop"):
        got = {
            s.name.replace("wasm_invoke_latency_seconds", "x"): s
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.startswith("wasm_invoke_latency_seconds") and s.labels["function_id"] == fid
        }
        assert set(got) == {"x_bucket", "x_count", "x_sum"}
        buckets = [
            (s.labels["le"], s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "wasm_invoke_latency_seconds_bucket" and s.labels["function_id"] == fid
        ]
        assert buckets == [(s.labels["le"], s.value) for s in want_samples if s.name.endswith("_bucket")]
        assert got["x_count"].value == want["x_count"].value == len(latencies)
        assert abs(got["x_sum"].value - want["x_sum"].value) < 1e-6
        assert sample(text, "wasm_invoke_count_total", function_id=fid, version="3") == len(latencies)
        slow = sum(1 for seconds in latencies if seconds > 5)
        assert sample(text, "wasm_invoke_errors_total", function_id=fid, error_code="trap") == slow
