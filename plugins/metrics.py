"""Built-in plugin: Prometheus metrics for invocations, the cache and the pools, served on the metrics port.

With several worker processes, `PROMETHEUS_MULTIPROC_DIR` makes prometheus-client write
per-process files that the metrics listener aggregates.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from edgehost.context import AppContext
from edgehost.contracts import Invocation
from edgehost.hookspecs import hookimpl

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

INVOKES = Counter("wasm_invoke_count", "Invocations routed to a function.", ["function_id"])
LATENCY = Histogram(
    "wasm_invoke_latency_seconds", "Time from admission to answer.", ["function_id"], buckets=LATENCY_BUCKETS
)
ERRORS = Counter("wasm_invoke_errors", "Failed or rejected invocations.", ["function_id", "error_code"])
CACHE_HITS = Counter("wasm_cache_hits", "Artifacts served from the local cache with a verified hash.")
CACHE_MISSES = Counter("wasm_cache_misses", "Artifacts missing from, or corrupt in, the local cache.")
POOL_INSTANCES = Gauge(
    "edgefn_pool_instances", "Hot instances per function.", ["function_id"], multiprocess_mode="livesum"
)


def _label(value: str) -> str:
    """Label values come from routes and guests; keep them printable and bounded."""
    return value[:128].encode("ascii", "replace").decode() if value else "unknown"


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    fid = _label(invocation.function_id)
    INVOKES.labels(fid).inc()
    LATENCY.labels(fid).observe(max(0.0, invocation.end_timestamp - invocation.start_timestamp))
    if invocation.error_code is not None:
        ERRORS.labels(fid, invocation.error_code).inc()


@hookimpl
def edgehost_artifact_cache_result(function_id: str, hit: bool) -> None:
    (CACHE_HITS if hit else CACHE_MISSES).inc()


def pool_size_changed(function_id: str, size: int) -> None:
    POOL_INSTANCES.labels(_label(function_id)).set(size)


def exposition() -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@get("/metrics", include_in_schema=False)
async def metrics() -> Response[bytes]:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


@hookimpl
def edgehost_route_handlers(role: str, ctx: AppContext) -> list[Any]:
    if role != "metrics":
        return []
    node = ctx.services.get("node")
    if node is not None and pool_size_changed not in node.pools.listeners:
        node.pools.listeners.append(pool_size_changed)
    return [metrics]
