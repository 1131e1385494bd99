"""Built-in plugin: Prometheus metrics for invocations, the cache, the pools, sync, quotas and (on
the control plane's API port) nodes by state.

Per-request metrics (requirement 8) are prometheus-client counters and a histogram updated
in the `invocation_finished` hook. With several worker processes, `PROMETHEUS_MULTIPROC_DIR`
makes prometheus-client write per-process files that the metrics listener aggregates.
State that already lives in the runner (sync revision, deployment states, cache size,
running executions) is read at scrape time by `LiveState`, so it costs nothing per request.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgehost.context import AppContext
from edgehost.contracts import Invocation
from edgehost.hookspecs import hookimpl

# `_created` series double the series count and multiprocess mode cannot produce them: both
# modes print the same families without them.
disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

INVOKES = Counter("wasm_invoke_count", "Invocations routed to a function.", ["function_id"])
LATENCY = Histogram(
    "wasm_invoke_latency_seconds",
    "Time from the request reaching the runner to its answer.",
    ["function_id"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter(
    "wasm_invoke_errors", "Failed or rejected invocations, by error code.", ["function_id", "error_code"]
)
PLUGIN_ERRORS = Counter(
    "edgefn_plugin_errors",
    "Plugin calls on the request path that raised, by plugin and hook.",
    ["plugin", "hook"],
)
CACHE_HITS = Counter("wasm_cache_hits", "Artifacts served from the local cache with a verified hash.")
CACHE_MISSES = Counter("wasm_cache_misses", "Artifacts missing from, or corrupt in, the local cache.")
POOL_INSTANCES = Gauge(
    "edgefn_pool_instances", "Hot instances per function.", ["function_id"], multiprocess_mode="livesum"
)
SERVICES = ("node", "agent", "ingress", "nodes")


def _label(value: str | None) -> str:
    """Label values come from routes, guests and third-party hooks; keep them printable and bounded."""
    return value[:128].encode("ascii", "replace").decode() if value else "unknown"


_children: dict[str, tuple[Any, Any]] = {}
_error_children: dict[tuple[str, str], Any] = {}


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    """Labelled children are cached per function: `labels()` alone costs more than the update."""
    fid = invocation.function_id
    children = _children.get(fid)
    if children is None:
        label = _label(fid)
        children = _children[fid] = (INVOKES.labels(label), LATENCY.labels(label))
    children[0].inc()
    children[1].observe(max(0.0, invocation.end_timestamp - invocation.start_timestamp))
    code = invocation.error_code
    if code is not None:
        error = _error_children.get((fid, code))
        if error is None:
            error = _error_children[(fid, code)] = ERRORS.labels(_label(fid), _label(code))
        error.inc()


@hookimpl
def edgehost_plugin_failed(plugin: str, hook: str, invocation: Invocation) -> None:
    PLUGIN_ERRORS.labels(_label(plugin), _label(hook)).inc()


@hookimpl
def edgehost_artifact_cache_result(function_id: str, hit: bool) -> None:
    (CACHE_HITS if hit else CACHE_MISSES).inc()


@hookimpl
def edgehost_pool_size_changed(function_id: str, size: int) -> None:
    POOL_INSTANCES.labels(_label(function_id)).set(size)


class LiveState(Collector):
    """Gauges and counters read from the runner's live objects at scrape time (duck-typed: any
    plugin's cache or pool that offers the same attributes shows up too)."""

    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        node, agent, ingress, fleet = (self.services.get(name) for name in SERVICES)
        counts = getattr(fleet, "state_counts", None)
        if counts:
            nodes = GaugeMetricFamily(
                "edgefn_nodes",
                "Nodes known to the control plane by feed state, as of its last offline sweep.",
                labels=["state"],
            )
            for state, count in sorted(counts.items()):
                nodes.add_metric([state], count)
            yield nodes
        if agent is not None:
            yield GaugeMetricFamily(
                "edgefn_sync_connected",
                "1 while the last heartbeat reached the control plane.",
                value=float(agent.connected.is_set()),
            )
            yield GaugeMetricFamily(
                "edgefn_sync_revision", "Desired-state revision the runner applied.", value=agent.revision
            )
        if node is not None:
            yield from self._node(node)
        admission = getattr(ingress, "admission", None)
        if admission is not None and hasattr(admission, "in_flight"):
            running = GaugeMetricFamily(
                "edgefn_quota_running", "Executions running per tenant on this runner.", labels=["tenant"]
            )
            for tenant, count in sorted(admission.in_flight().items()):
                running.add_metric([_label(tenant)], count)
            yield running

    def _node(self, node: Any) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "edgefn_deployments", "Function versions on this runner, by state.", labels=["state"]
        )
        for state, count in sorted(Tally(s.state for s in node.states.values()).items()):
            states.add_metric([_label(state)], count)
        yield states
        yield GaugeMetricFamily(
            "edgefn_quota_blocked_tenants",
            "Tenants the control plane blocked for their daily CPU quota.",
            value=len(node.snapshot.blocked),
        )
        total = getattr(node.cache, "total_bytes", None)
        if isinstance(total, int):
            yield GaugeMetricFamily("edgefn_cache_bytes", "Bytes in the local artifact cache.", value=total)
        created = CounterMetricFamily(
            "edgefn_pool_instances_created", "Instances created per live function.", labels=["function_id"]
        )
        reused = CounterMetricFamily(
            "edgefn_pool_reuses", "Invocations served by a hot instance.", labels=["function_id"]
        )
        evicted = CounterMetricFamily(
            "edgefn_pool_evictions",
            "Hot instances evicted (idle or memory pressure).",
            labels=["function_id"],
        )
        refused = CounterMetricFamily(
            "edgefn_pool_hot_memory_refusals",
            "Instances not kept hot: their project held its share of the hot memory budget.",
            labels=["function_id"],
        )
        attributes = ((created, "created"), (reused, "reused"), (evicted, "evicted"), (refused, "refused"))
        for function_id, live in sorted(node.snapshot.functions.items()):
            pool, fid = live.pool, [_label(function_id)]
            for family, attribute in attributes:
                if isinstance(getattr(pool, attribute, None), int):
                    family.add_metric(fid, getattr(pool, attribute))
        yield from (created, reused, evicted, refused)


def forget_dead_workers(directory: Path) -> None:
    """Granian respawns a crashed worker without telling anyone: at scrape time, the live gauges of
    processes that no longer exist are dropped, so a dead worker's hot instances stop counting."""
    suffixes = {path.stem.rsplit("_", 1)[-1] for path in directory.glob("gauge_live*_*.db")}
    for pid in (int(suffix) for suffix in suffixes if suffix.isdigit()):
        if not psutil.pid_exists(pid):
            multiprocess.mark_process_dead(pid, str(directory))


def exposition(live: Collector | None = None) -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        forget_dead_workers(Path(directory))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if live is not None:
        own = CollectorRegistry(auto_describe=False)
        own.register(live)
        body += generate_latest(own)
    return body


@get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    return Response(exposition(LiveState(state.ctx.services)), media_type=CONTENT_TYPE_LATEST)


@hookimpl
def edgehost_route_handlers(role: str, ctx: AppContext) -> list[Any]:
    """A runner's metrics listener; the control plane's developer API too (`edgefn_nodes`)."""
    return [metrics] if role in ("metrics", "api") else []
