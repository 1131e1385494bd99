"""Built-in plugin: Prometheus metrics for invocations, the cache, the pools, sync, quotas and (on
the control plane's API port) nodes by state.

Per-request metrics (requirement 8) are prometheus-client counters and a histogram, but the
`invocation_finished` hook only adds to plain per-process tallies (`Tallies`): those are folded
into prometheus-client at most `Tallies.FOLD_S` later and before every scrape this process
serves. With several worker processes, `PROMETHEUS_MULTIPROC_DIR` makes prometheus-client write
per-process files that the metrics listener aggregates; a fold writes each series' file once
for all the requests it gathered, instead of a locked file write per counter per request.
State that already lives in memory (sync revision, deployment states, cache size, running
executions) is collected at scrape time from the collectors each plugin and the core contribute
through `edgehost_metric_collectors`, so it costs nothing per request.
"""

from __future__ import annotations

import asyncio
import atexit
import bisect
import os
import threading
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


class Tallies:
    """Per-process counts of finished invocations since the last fold, in plain lists and ints.

    Per (function id, version): [requests, latency sum in seconds, then one count per latency
    bucket, +Inf last], non-cumulative as prometheus-client keeps them; per (function id, error
    code): failures. `fold()` adds them to the prometheus-client series in one update per series.
    On an event loop the first count after a fold schedules the next one FOLD_S later (so an idle
    process runs no timer); called off a loop (a script, a guest thread), a count is folded at once.
    """

    FOLD_S = 0.5

    def __init__(self) -> None:
        self._invokes: dict[tuple[str, int], list[float]] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # counts may come from several threads' loops
        self._scheduled = False
        # The labelled children, made once per series: `labels()` alone costs more than the update.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._error_children: dict[tuple[str, str], Any] = {}

    def add(self, invocation: Invocation) -> None:
        seconds = invocation.end_timestamp - invocation.start_timestamp
        if seconds < 0.0:  # the wall clock stepped back; a conditional costs less than max()
            seconds = 0.0
        key = (invocation.function_id, invocation.version)
        code = invocation.error_code
        with self._lock:
            tally = self._invokes.get(key)
            if tally is None:
                tally = self._invokes[key] = [0, 0.0] + [0] * (len(LATENCY_BUCKETS) + 1)
            tally[0] += 1
            tally[1] += seconds
            tally[2 + bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # `le`: the first bound >= it
            if code is not None:
                error = (invocation.function_id, code)
                self._errors[error] = self._errors.get(error, 0) + 1
            scheduled, self._scheduled = self._scheduled, True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.fold()
            return
        if not scheduled:
            loop.call_later(self.FOLD_S, self.fold)

    def fold(self) -> None:
        """Adds what was counted since the last fold to prometheus-client's series."""
        with self._lock:
            invokes, self._invokes = self._invokes, {}
            errors, self._errors = self._errors, {}
            self._scheduled = False
        for key, tally in invokes.items():
            count, latency = self._series(key)
            count.inc(tally[0])
            _add_observations(latency, tally[1], tally[2:])
        for (fid, code), n in errors.items():
            error = self._error_children.get((fid, code))
            if error is None:
                error = self._error_children[(fid, code)] = ERRORS.labels(label_value(fid), label_value(code))
            error.inc(n)

    def _series(self, key: tuple[str, int]) -> tuple[Any, Any]:
        children = self._children.get(key)
        if children is None:
            label = label_value(key[0])
            children = self._children[key] = (INVOKES.labels(label, str(key[1])), LATENCY.labels(label))
        return children


def _add_observations(child: Any, total: float, counts: list[float]) -> None:
    """What `observe()` would have done for each of `sum(counts)` values adding up to `total`, as
    one update per bucket: a Histogram child holds its sum and its non-cumulative bucket counts
    as prometheus-client values (`_sum`, `_buckets`, unchanged since 0.4; the tests read the
    exposition back, so a change there fails them)."""
    child._sum.inc(total)
    for bucket, n in zip(child._buckets, counts, strict=True):
        if n:
            bucket.inc(n)


TALLIES = Tallies()
atexit.register(TALLIES.fold)  # a worker's last counts reach its files when it stops


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    TALLIES.add(invocation)


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
    `PROMETHEUS_MULTIPROC_DIR` is set: another process's counts arrive at most `Tallies.FOLD_S`
    after its requests), then of the `live` collectors, read now."""
    TALLIES.fold()
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
