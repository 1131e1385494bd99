"""One project's slow bring-ups (compiles of big components) never hold back another project's
deployments: they run in the background on bounded compile slots, one per project at a time, and
what is ready serves at once (edgehost/runner/node.py, docs/runner.md "Bringing deployments up")."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from edgehost.context import AppContext
from edgehost.contracts import InstancePool, PoolFactory
from edgehost.plugin_manager import make_plugin_manager
from edgehost.protocol import DesiredState, FunctionDeployment, RouteSpec
from edgehost.runner.node import NodeState
from edgehost.runtime import FunctionSpec
from edgehost.settings import load_settings
from tests.procs import REPO

WASM = bytes(wasmtime.wat2wasm((REPO / "functions/hello/hello.wat").read_text()))
SHA = hashlib.sha256(WASM).hexdigest()


def deployment(project: str, name: str, version: int = 1) -> FunctionDeployment:
    return FunctionDeployment(
        function_id=f"{project}.{name}",
        project=project,
        name=name,
        version=version,
        artifact_url="http://127.0.0.1:9/unreachable",
        sha256=SHA,
        memory_pages=16,
        max_execution_ms=1000,
    )


def route(d: FunctionDeployment) -> RouteSpec:
    return RouteSpec(host="*", path=f"/{d.function_id}", function_id=d.function_id, project=d.project)


class HeldPools:
    """The node's pool factory, except that the versions in `held` wait in the compile slot until
    `release` is set: a deterministic stand-in for a 30 s componentize-py compile."""

    def __init__(self, pools: PoolFactory, held: set[tuple[str, int]]) -> None:
        self.pools = pools
        self.held = held
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(
        self, spec: FunctionSpec, wasm: bytes, compiled_path: Path | None, min_hot: int, max_hot: int
    ) -> InstancePool:
        if (spec.function_id, spec.version) in self.held:
            self.entered.release()
            self.release.wait()
        return self.pools(spec, wasm, compiled_path, min_hot, max_hot)

    def discard(self, pool: InstancePool) -> None:
        self.pools.discard(pool)


def node_with(tmp_path: Path, deployments: list[FunctionDeployment], slots: int) -> NodeState:
    settings = load_settings(
        "runner",
        overrides={
            "runner.cache_dir": str(tmp_path / "cache"),
            "runner.state_dir": str(tmp_path / "state"),
            "runner.max_concurrent_bring_ups": slots,
        },
    )
    node = NodeState(AppContext(settings=settings, pm=make_plugin_manager(entry_points=False), mode="runner"))
    for d in deployments:
        staged = node.cache.tmp_dir / "download"
        staged.write_bytes(WASM)
        node.cache.put(d.function_id, d.version, SHA, staged)
    return node


def serves(node: NodeState, d: FunctionDeployment) -> bool:
    live = node.snapshot.functions.get(d.function_id)
    routed = node.snapshot.routes.lookup("x", "GET", f"/{d.function_id}") is not None
    return routed and live is not None and live.deployment.version == d.version


def run(held: HeldPools, scenario: Callable[[], Awaitable[None]]) -> None:
    """Runs `scenario`, releasing the held compiles however it ends: a time-out (the broken,
    sequential runner) fails the test instead of leaving a thread that keeps the loop from closing."""

    async def released() -> None:
        try:
            await scenario()
        finally:
            held.release.set()

    asyncio.run(released())


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@pytest.mark.timeout(20)
def test_a_project_serves_while_another_projects_bring_ups_are_held(tmp_path: Path) -> None:
    """Project a deploys two components whose compiles hang; project b, deployed after them, serves
    while they hang (two slots: a's second waits behind its first, not in b's way); a serves once
    released."""
    a1, a2, b = deployment("a", "one"), deployment("a", "two"), deployment("b", "hello")
    node = node_with(tmp_path, [a1, a2, b], slots=2)
    held = HeldPools(node.pools, {(a1.function_id, 1), (a2.function_id, 1)})
    node.pools = held

    async def scenario() -> None:
        await node.apply(DesiredState(revision=1, functions=(a1, a2), routes=(route(a1), route(a2))))
        await asyncio.to_thread(held.entered.acquire)  # a's first compile holds a slot
        everything = DesiredState(revision=2, functions=(a1, a2, b), routes=(route(a1), route(a2), route(b)))
        await node.apply(everything)
        await until(lambda: serves(node, b))
        assert not serves(node, a1) and not serves(node, a2)
        assert node.snapshot.revision == 2
        held.release.set()
        await node.settled()
        assert serves(node, a1) and serves(node, a2) and serves(node, b)
        await node.close()

    run(held, scenario)


@pytest.mark.timeout(20)
def test_a_replaced_version_serves_until_its_replacement_is_up(tmp_path: Path) -> None:
    """A new version held in its compile keeps the old one serving; the old one goes once the new
    one serves, and another project's deploy meanwhile does not take the old one down."""
    v1, v2, other = deployment("a", "f", 1), deployment("a", "f", 2), deployment("b", "g")
    node = node_with(tmp_path, [v1, v2, other], slots=2)
    held = HeldPools(node.pools, {(v2.function_id, 2)})
    node.pools = held

    async def scenario() -> None:
        await node.apply(DesiredState(revision=1, functions=(v1,), routes=(route(v1),)))
        await node.settled()
        assert serves(node, v1)
        await node.apply(DesiredState(revision=2, functions=(v2,), routes=(route(v2),)))
        await asyncio.to_thread(held.entered.acquire)
        assert serves(node, v1)
        await node.apply(DesiredState(revision=3, functions=(v2, other), routes=(route(v2), route(other))))
        await until(lambda: serves(node, other))
        assert serves(node, v1) and (v1.function_id, 1) in node.live
        held.release.set()
        await node.settled()
        assert serves(node, v2) and serves(node, other)
        assert (v1.function_id, 1) not in node.live
        await node.close()

    run(held, scenario)
