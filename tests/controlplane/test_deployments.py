"""Deployments with CEL selectors, heartbeats, watch, offline nodes, rollback, concurrency."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import Any

import httpx

from edgehost.protocol import CachedFunction
from tests.controlplane.harness import HELLO_WASM, ControlPlane, cached, deployed
from tests.procs import wait_until


def _node(cp: ControlPlane, node_id: str, subject: str = "observer") -> dict[str, Any]:
    nodes = cp.developer(subject).http.get("/v1/status").json()["nodes"]
    return next(n for n in nodes if n["node_id"] == node_id)


def test_a_bad_selector_is_422_naming_the_problem(cp: ControlPlane) -> None:
    dev = cp.developer("sel-owner")
    dev.publish("sel", "fn")
    response = dev.deploy("sel", "fn", "region == ")
    assert response.status_code == 422
    assert response.json()["error"] == "bad_selector"
    assert "line 1, column" in response.json()["detail"]
    assert dev.http.get("/v1/projects/sel/deployments").json() == {"deployments": []}
    assert dev.deploy("sel", "nope", "true").status_code == 404


def test_deploy_targets_matching_online_nodes_and_late_joiners(cp: ControlPlane) -> None:
    dev = cp.developer("target-owner")
    version = dev.publish("target", "fn", memory_pages=4, max_execution_ms=70)
    tokyo = cp.node_client("node-a", labels={"suite": "target", "region": "tokyo"})
    paris = cp.node_client("node-b", labels={"suite": "target", "region": "paris"})
    bare = cp.node_client("node-off", labels={"suite": "target"})  # lacks `region`: no match, no error
    for node in (tokyo, paris, bare):
        assert deployed(node.heartbeat()).get("target.fn") is None
    before = _node(cp, "node-a")["last_heartbeat"]

    response = dev.deploy("target", "fn", "suite == 'target' && region == 'tokyo'")
    assert response.status_code == 201, response.text
    assert response.json()["nodes"] == ["node-a"]

    reply = tokyo.heartbeat()
    assert deployed(reply)["target.fn"] == version
    [step] = [i for i in reply.instructions if i.function_id == "target.fn"]
    assert (step.action, step.version, step.memory_pages, step.max_execution_ms) == ("deploy", version, 4, 70)
    assert step.sha256 == hashlib.sha256(HELLO_WASM).hexdigest()
    assert httpx.get(step.artifact_url).content == HELLO_WASM  # a presigned S3 GET
    # The heartbeat time of an unchanged node is written with the next batch (every 0.5 s).
    wait_until(lambda: _node(cp, "node-a")["last_heartbeat"] > before, what="the batched heartbeat time")
    assert "target.fn" not in deployed(paris.heartbeat())
    assert "target.fn" not in deployed(bare.heartbeat())
    # Carried out: nothing left to do.
    assert not [i for i in tokyo.heartbeat(cached(reply)).instructions if i.function_id == "target.fn"]

    late = cp.node_client("node-late", labels={"suite": "target", "region": "tokyo"})
    assert deployed(late.heartbeat())["target.fn"] == version
    for node in (tokyo, paris, bare, late):
        node.close()


def test_watch_returns_when_a_deploy_changes_the_state(cp: ControlPlane) -> None:
    dev = cp.developer("watch-owner")
    dev.publish("watch", "fn")
    node = cp.node_client("node-w", labels={"suite": "watch"})
    revision = node.heartbeat().desired.revision
    assert node.watch(revision, timeout=0.2).status_code == 204
    answer: dict[str, Any] = {}
    waiting = threading.Thread(target=lambda: answer.update(desired=node.desired_after(revision, timeout=30)))
    waiting.start()
    time.sleep(0.3)  # let the watch park; correctness does not depend on it
    assert dev.deploy("watch", "fn", "suite == 'watch'").status_code == 201
    waiting.join(20)
    assert not waiting.is_alive(), "the watch did not return after the deploy"
    assert deployed(answer["desired"])["watch.fn"] == 1
    assert answer["desired"].revision > revision
    node.close()


def test_silent_nodes_go_offline_and_get_no_new_deployments(cp: ControlPlane) -> None:
    dev = cp.developer("offline-owner")
    dev.publish("offline", "fn")
    node = cp.node_client("node-off", labels={"suite": "offline"})
    node.heartbeat()
    assert _node(cp, "node-off")["status"] == "online"
    wait_until(lambda: _node(cp, "node-off")["status"] == "offline", timeout=20, what="node-off offline")
    assert re.search(
        r"WARNING .*node node-off offline: last heartbeat \S+, [\d.]+s ago"
        r" \(heartbeat.offline_after_s = 4.0\)",
        cp.stderr,
    )
    response = dev.deploy("offline", "fn", "suite == 'offline'")
    assert response.status_code == 201 and response.json()["nodes"] == []
    # Back online, it is told to run the deployment.
    assert deployed(node.heartbeat())["offline.fn"] == 1
    assert _node(cp, "node-off")["status"] == "online"
    node.close()


def test_rollback_swaps_versions_in_one_heartbeat(cp: ControlPlane) -> None:
    dev = cp.developer("rb-owner")
    v1 = dev.publish("rb", "fn")
    v2 = dev.publish("rb", "fn")
    pending = dev.upload("rb", "fn", HELLO_WASM)["version"]
    assert dev.rollback("rb", "fn", v1).status_code == 409  # nothing deployed yet
    node = cp.node_client("node-rb", labels={"suite": "rb"})
    assert dev.deploy("rb", "fn", "suite == 'rb'", v2).status_code == 201
    running = cached(node.heartbeat())
    assert [(f.function_id, f.version) for f in running if f.function_id == "rb.fn"] == [("rb.fn", v2)]

    assert dev.rollback("rb", "fn", 42).status_code == 404
    assert dev.rollback("rb", "fn", pending).status_code == 409
    assert dev.rollback("rb", "fn", v2).status_code == 409
    assert dev.rollback("rb", "nope", v1).status_code == 404
    done = dev.rollback("rb", "fn", v1)
    assert done.status_code == 200
    assert done.json() == {
        "function": "fn",
        "from_version": v2,
        "to_version": v1,
        "selector": "suite == 'rb'",
    }

    steps = {(i.action, i.version) for i in node.heartbeat(running).instructions if i.function_id == "rb.fn"}
    assert steps == {("deploy", v1), ("undeploy", v2)}
    [active] = dev.http.get("/v1/projects/rb/deployments").json()["deployments"]
    assert active["version"] == v1
    node.close()


def test_concurrent_deploys_leave_one_active_deployment(cp: ControlPlane) -> None:
    dev = cp.developer("race-owner")
    versions = [dev.publish("race", "fn") for _ in range(3)]
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def fire(version: int) -> None:
        with httpx.Client(base_url=cp.api, headers=dict(dev.http.headers)) as client:
            barrier.wait()
            body = {"function": "fn", "version": version, "selector": "true"}
            statuses.append(client.post("/v1/projects/race/deployments", json=body).status_code)

    threads = [threading.Thread(target=fire, args=(versions[i % 3],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [201] * 8
    active = dev.http.get("/v1/projects/race/deployments").json()["deployments"]
    assert len(active) == 1 and active[0]["version"] in versions


def test_routes_travel_with_their_function(cp: ControlPlane) -> None:
    dev = cp.developer("routes-owner")
    dev.publish("routes", "fn")
    routes = [{"host": "routes.example", "path": "/x", "methods": ["GET"], "function": "fn", "priority": 5}]
    assert dev.http.put("/v1/projects/routes/routes", json={"routes": routes}).status_code == 200
    node = cp.node_client("node-b", labels={"suite": "routes"})
    assert not [r for r in node.heartbeat().desired.routes if r.project == "routes"]
    dev.deploy("routes", "fn", "suite == 'routes'")
    [route] = [r for r in node.heartbeat().desired.routes if r.project == "routes"]
    assert (route.host, route.path, route.methods, route.function_id, route.priority) == (
        "routes.example",
        "/x",
        ("GET",),
        "routes.fn",
        5,
    )
    node.close()


def test_node_reported_states_show_in_status(cp: ControlPlane) -> None:
    cp.developer("status-owner").create("status", "fn")
    node = cp.node_client("node-b", labels={"suite": "status"})
    node.heartbeat([CachedFunction(function_id="status.fn", version=3, state="cached")])
    states = _node(cp, "node-b", "status-owner")["deployments"]
    assert {"function_id": "status.fn", "version": 3, "state": "cached", "error": ""} in states
    # Another tenant sees the node, but not the states of functions that are not its own.
    assert not [d for d in _node(cp, "node-b")["deployments"] if d["function_id"] == "status.fn"]
    node.close()
