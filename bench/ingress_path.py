"""The ingress's own Python work per request, without sockets: `Ingress.__call__` on the hello guest.

Builds a runner's node in-process with the default plugins (quotas, metrics, invocation log, routing,
pooling), serves the example hello guest from it and calls the ASGI entry point with an in-memory
scope, `receive` and `send`. Against it runs the smallest ASGI app that answers the same bytes,
and the bench's bare Litestar handler (bench/baseline_app.py), both called the same way: the
ratio of Litestar's CPU per request to edgefn's is the ingress goal (>= 0.8) free of sockets,
the load generator and other processes on the machine. `--profile` prints the top functions
by own time (cProfile).

Run: .venv/bin/python -m bench.ingress_path [--requests 20000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import baseline_app
from bench.common import REPO, Row, machine, median, table
from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.plugins import invocation_log
from edgehost.protocol import FunctionDeployment, RouteSpec
from edgehost.runner.ingress import Ingress
from edgehost.runner.node import NodeState
from edgehost.runner.snapshot import LiveFunction, Snapshot, spec_of
from edgehost.runtime import wasm_from_source
from edgehost.settings import load_settings

BODY = b"Hello from edgefn!\n"
SCOPE: dict[str, Any] = {
    "type": "http",
    "http_version": "1.1",
    "method": "GET",
    "path": "/hello",
    "raw_path": b"/hello",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: an ASGI app that writes the hello answer and does nothing else."""
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"19")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def hello_ingress(state_dir: Path) -> Ingress:
    settings = load_settings(
        "runner",
        overrides={
            "runner": {
                "node_id": "bench",
                "state_dir": str(state_dir),
                "cache_dir": str(state_dir / "cache"),
            },
            "quotas": {"per_minute": 1_000_000_000},
        },
    )
    ctx = AppContext(settings=settings, pm=make_plugin_manager(entry_points=False), mode="dev")
    node = NodeState(ctx)
    deployment = FunctionDeployment(
        function_id="demo.hello",
        project="demo",
        name="hello",
        version=1,
        artifact_url="",
        sha256="",
        memory_pages=16,
        max_execution_ms=50,
    )
    wasm = wasm_from_source((REPO / "functions/hello/hello.wat").read_bytes(), "hello.wat")
    pool = node.pools(spec_of(deployment), wasm, None, 1, 8)
    pool.warm()
    routes = ctx.hook.edgehost_route_table(
        routes=[RouteSpec(host="*", path="/hello", function_id="demo.hello", project="demo")], claims=()
    )
    node.snapshot = Snapshot(routes=routes, functions={"demo.hello": LiveFunction(deployment, pool)})
    return Ingress.from_settings(node, settings.runner)


async def per_request_us(app: Callable[..., Awaitable[None]], requests: int) -> float:
    started = time.thread_time()  # this thread only: background threads cost per second, not per request
    for _ in range(requests):
        await app(SCOPE, _receive, _send)
    return (time.thread_time() - started) / requests * 1e6


async def measure(requests: int, rounds: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-path-") as tmp:
        ingress = hello_ingress(Path(tmp))
        apps: dict[str, Callable[..., Awaitable[None]]] = {
            "edgefn": ingress,
            "litestar": baseline_app.build(),
            "bare": bare,
        }
        spent: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, app in apps.items():
                spent[name].append(await per_request_us(app, requests))
        ingress.close()
    us, litestar, floor = (median(spent[name]) for name in apps)
    note = f"{rounds} rounds x {requests} requests; a bare ASGI answer costs {floor:.1f} µs"
    return [
        Row(
            "ingress-path",
            "requests per CPU-second, in-process (no sockets)",
            1e6 / us,
            "req/s",
            1e6 / litestar,
            "bare Litestar",
            ">= 0.8 x",
            litestar / us >= 0.8,
            note=f"{us:.1f} vs {litestar:.1f} µs per request; " + note,
        )
    ]


@contextmanager
def stdout_discarded() -> Iterator[None]:
    """The invocation log writes a line per request to fd 1; the bench's table must not drown."""
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        invocation_log.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def run(requests: int = 20_000, rounds: int = 5) -> list[Row]:
    with stdout_discarded():
        return asyncio.run(measure(requests, rounds))


def profile(requests: int) -> str:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-path-") as tmp:
        ingress = hello_ingress(Path(tmp))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(per_request_us(ingress, requests))
        profiler.disable()
        ingress.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.profile:
        with stdout_discarded():
            report = profile(args.requests)
        print(report, file=sys.stderr)
        return
    rows = run(args.requests, args.rounds)
    print(f"machine: {machine()}", file=sys.stderr)
    print(table(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
