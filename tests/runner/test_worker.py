"""An ingress worker's side of the multi-process runner: it follows serving.json from a cache it does
not own, and a kill -9 mid-download leaves the cache without a partial entry."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import wasmtime

from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.plugins.caching import ArtifactCache
from edgehost.protocol import DesiredState, FunctionDeployment, RouteSpec
from edgehost.runner.node import NodeState
from edgehost.runner.statefile import SERVING_FILE, save_state
from edgehost.runner.usage import UsageWriter
from edgehost.runner.worker import ServingWatcher
from edgehost.settings import load_settings
from tests.procs import REPO, wait_until

WASM = bytes(wasmtime.wat2wasm((REPO / "functions/hello/hello.wat").read_text()))
SHA = hashlib.sha256(WASM).hexdigest()
HELLO = FunctionDeployment(
    function_id="demo.hello",
    project="demo",
    name="hello",
    version=1,
    artifact_url="http://127.0.0.1:9/unreachable",
    sha256=SHA,
    memory_pages=16,
    max_execution_ms=1000,
    min_hot_instances=2,
)
ROUTE = RouteSpec(host="*", path="/hello", function_id="demo.hello", project="demo")


def worker_node(tmp_path: Path) -> NodeState:
    settings = load_settings(
        "runner",
        overrides={"runner.cache_dir": str(tmp_path / "cache"), "runner.state_dir": str(tmp_path / "state")},
    )
    ctx = AppContext(settings=settings, pm=make_plugin_manager(entry_points=False), mode="runner")
    return NodeState(ctx, process="worker")


def test_worker_serves_what_the_agent_published_and_follows_changes(tmp_path: Path) -> None:
    agent_cache = ArtifactCache(tmp_path / "cache", max_bytes=1 << 20)
    staged = agent_cache.tmp_dir / "download"
    staged.write_bytes(WASM)
    agent_cache.put("demo.hello", 1, SHA, staged)
    in_flight = agent_cache.tmp_dir / "fetch-in-flight.part"
    in_flight.write_bytes(b"half")

    node = worker_node(tmp_path)
    assert in_flight.exists()  # a worker starting never empties the agent's downloads
    serving = tmp_path / "state" / SERVING_FILE
    watcher = ServingWatcher(node, serving, UsageWriter(tmp_path / "state" / "usage", pid=1))

    async def scenario() -> None:
        assert not await watcher.check_once()  # nothing published yet: serve nothing
        save_state(serving, DesiredState(revision=1, functions=(HELLO,), routes=(ROUTE,)))
        assert await watcher.check_once()
        await node.settled()  # brought up in the background, as the worker's start-up waits for
        assert not await watcher.check_once()  # unchanged file: not applied again
        match = node.snapshot.routes.lookup("x", "GET", "/hello")
        assert match is not None and not isinstance(match, tuple)
        assert node.snapshot.functions["demo.hello"].pool.size == 2  # warmed before serving
        assert node.snapshot.blocked == frozenset()
        save_state(
            serving, DesiredState(revision=2, functions=(HELLO,), routes=(ROUTE,), blocked_tenants=("demo",))
        )
        assert await watcher.check_once()  # a daily CPU block reaches the workers like a deploy
        assert node.snapshot.blocked == {"demo"}
        node.add_usage("demo", 0.25)
        save_state(serving, DesiredState(revision=3, remove_artifacts=True))
        assert await watcher.check_once()
        assert node.snapshot.routes.lookup("x", "GET", "/hello") is None
        await node.close()

    asyncio.run(scenario())
    assert agent_cache.path_for("demo.hello", 1).exists()  # removal is the agent's job
    assert watcher.usage.totals == {"demo": 0.25}


class SlowServer:
    """Sends the headers and the first bytes of an artifact, then stalls."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(WASM) * 1000))
                self.end_headers()
                self.wfile.write(WASM)
                self.wfile.flush()
                threading.Event().wait(30)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/a.wasm"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def slow_server() -> Iterator[SlowServer]:
    server = SlowServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_kill_9_mid_download_leaves_no_partial_entry(tmp_path: Path, slow_server: SlowServer) -> None:
    root = tmp_path / "cache"
    ArtifactCache(root, max_bytes=1 << 30)
    script = textwrap.dedent(
        f"""
        import asyncio, httpx
        from pathlib import Path
        from edgehost.runner.fetcher import fetch_artifact
        async def main():
            async with httpx.AsyncClient() as client:
                await fetch_artifact({slow_server.url!r}, expected_sha256={SHA!r},
                                     dest_dir=Path({str(root / ".tmp")!r}), client=client)
        asyncio.run(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        parts = wait_until(lambda: [p for p in (root / ".tmp").iterdir() if p.stat().st_size > 0], timeout=30)
        assert parts[0].name.endswith(".part")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    cache = ArtifactCache(root, max_bytes=1 << 30)  # the agent restarting
    assert list(cache.tmp_dir.iterdir()) == []
    assert cache.entries() == []
    assert cache.get("demo.hello", 1, SHA) is None
