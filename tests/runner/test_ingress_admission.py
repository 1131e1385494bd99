"""All tenant policy is the `Admission` component's: the daily CPU block included, so a plugin that
replaces `quotas` replaces it too. Unit tests on an `Ingress` with a stand-in pool."""

from __future__ import annotations

import json
from pathlib import Path

from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.protocol import RouteSpec
from edgehost.runner.ingress import Ingress
from edgehost.runner.node import NodeState
from edgehost.runner.snapshot import LiveFunction, Snapshot
from edgehost.settings import load_settings
from tests.runner.test_ingress_bytes import DEPLOYMENT, Recording, call


def serve(ingress: Ingress, *, blocked: frozenset[str]) -> Recording:
    pool = Recording()
    routes = ingress.hook.edgehost_route_table(
        routes=[RouteSpec(host="*", path="/", function_id="t.f", project="t")], claims=()
    )
    functions = {"t.f": LiveFunction(DEPLOYMENT, pool)}  # type: ignore[arg-type]
    ingress.node.snapshot = Snapshot(routes=routes, functions=functions, blocked=blocked)
    return pool


async def test_a_project_blocked_for_the_day_answers_429_and_never_runs(ingress: Ingress) -> None:
    pool = serve(ingress, blocked=frozenset({"t"}))
    start, body = await call(ingress, b"/")
    assert start["status"] == 429
    assert (b"retry-after", b"3600") in start["headers"]
    assert json.loads(body["body"])["error"] == "quota_exceeded"
    assert pool.requests == []
    serve(ingress, blocked=frozenset())
    assert (await call(ingress, b"/"))[0]["status"] == 200  # read per request: unblocked at once


async def test_without_the_quotas_plugin_no_tenant_policy_applies(tmp_path: Path) -> None:
    settings = load_settings("runner", overrides={"runner": {"node_id": "n", "state_dir": str(tmp_path)}})
    pm = make_plugin_manager(disabled=["quotas"], entry_points=False)
    ingress = Ingress.from_settings(
        NodeState(AppContext(settings=settings, pm=pm, mode="dev")), settings.runner
    )
    try:
        assert ingress.admission is None
        pool = serve(ingress, blocked=frozenset({"t"}))
        assert (await call(ingress, b"/"))[0]["status"] == 200
        assert len(pool.requests) == 1
    finally:
        ingress.close()
