"""Built-in plugin: Prometheus metrics for invocations, the cache, the pools, sync, quotas and (on
the control plane's API port) nodes by state.

Per-request metrics (requirement 8) are prometheus-client counters and a histogram updated
in the `invocation_finished` hook. With several worker processes, `PROMETHEUS_MULTIPROC_DIR`
makes prometheus-client write per-process files that the metrics listener aggregates.
State that already lives in memory (sync revision, deployment states, cache size, running
executions) is collected at scrape time from the collectors each plugin and the core contribute
through `edgehost_metric_collectors`, so it costs nothing per request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
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
from prometheus_client.registry import Collector

from edgehost.collectors import label_value
from edgehost.context import AppContext
from edgehost.contracts import Invocation
from edgehost.hookspecs import hookimpl

# `_created` series double the series count and multiprocess mode cannot produce them: both
# modes print the same families without them.
disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# `version` is the version that served: during a rollout (edgehost/rollouts.py) one function has several.
INVOKES = Counter(
    "wasm_invoke_count",
    "Invocations routed to a function, by the version serving.",
    ["function_id", "version"],
)
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


_children: dict[tuple[str, int], tuple[Any, Any]] = {}
_error_children: dict[tuple[str, str], Any] = {}


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    """Labelled children are cached per function version: `labels()` alone costs more than the update."""
    fid = invocation.function_id
    children = _children.get((fid, invocation.version))
    if children is None:
        label = label_value(fid)
        children = _children[(fid, invocation.version)] = (
            INVOKES.labels(label, str(invocation.version)),
            LATENCY.labels(label),
        )
    children[0].inc()
    children[1].observe(max(0.0, invocation.end_timestamp - invocation.start_timestamp))
    code = invocation.error_code
    if code is not None:
        error = _error_children.get((fid, code))
        if error is None:
            error = _error_children[(fid, code)] = ERRORS.labels(label_value(fid), label_value(code))
        error.inc()


@hookimpl
def edgehost_plugin_failed(plugin: str, hook: str, invocation: Invocation) -> None:
    PLUGIN_ERRORS.labels(label_value(plugin), label_value(hook)).inc()


@hookimpl
def edgehost_artifact_cache_result(function_id: str, hit: bool) -> None:
    (CACHE_HITS if hit else CACHE_MISSES).inc()


@hookimpl
def edgehost_pool_size_changed(function_id: str, size: int) -> None:
    POOL_INSTANCES.labels(label_value(function_id)).set(size)


def forget_dead_workers(directory: Path) -> None:
    """Granian respawns a crashed worker without telling anyone: at scrape time, the live gauges of
    processes that no longer exist are dropped, so a dead worker's hot instances stop counting."""
    suffixes = {path.stem.rsplit("_", 1)[-1] for path in directory.glob("gauge_live*_*.db")}
    for pid in (int(suffix) for suffix in suffixes if suffix.isdigit()):
        if not psutil.pid_exists(pid):
            multiprocess.mark_process_dead(pid, str(directory))


def exposition(live: Iterable[Collector] = ()) -> bytes:
    """The text format of every counter and histogram (all worker processes' when
    `PROMETHEUS_MULTIPROC_DIR` is set), then of the `live` collectors, read now."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        forget_dead_workers(Path(directory))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    own = CollectorRegistry(auto_describe=False)
    for collector in live:
        own.register(collector)
    return body + generate_latest(own)


@get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    ctx: AppContext = state.ctx
    live = [collector for group in ctx.hook.edgehost_metric_collectors(ctx=ctx) for collector in group or ()]
    return Response(exposition(live), media_type=CONTENT_TYPE_LATEST)


@hookimpl
def edgehost_route_handlers(listener: str, ctx: AppContext) -> list[Any]:
    """A runner's metrics listener; the control plane's developer API too (`edgefn_nodes`)."""
    return [metrics] if listener in ("metrics", "api") else []
