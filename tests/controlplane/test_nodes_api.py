"""`/v1/nodes` on a real control plane (PostgreSQL, mTLS nodes): the operator role, filters, target
lists, drains, the OpenAPI entries and the CP's `edgefn_nodes` gauge."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from edgehost.protocol import Heartbeat
from tests.controlplane.harness import ControlPlane, NodeClient, bearer
from tests.procs import wait_until

FEED = "suite == 'feed'"  # other tests' nodes share this CP: each query here selects ours


def beat(node: NodeClient, **fields: str) -> None:
    message = Heartbeat(node_id=node.node_id, labels=node.labels, **fields)
    response = node.post("/v1/node/heartbeat", message)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def feed(cp: ControlPlane) -> httpx.Client:
    """An operator's client, once node-feed-1 (tokyo) and node-feed-2 (osaka) have checked in."""
    for node_id, region, host in (
        ("node-feed-1", "tokyo", "10.1.0.1"),
        ("node-feed-2", "osaka", "edge-2.internal"),
    ):
        node = cp.node_client(node_id, labels={"suite": "feed", "region": region})
        beat(node, public_url=f"http://{host}:8080", metrics_url=f"http://{host}:9090")
        node.close()
    return httpx.Client(base_url=cp.api, headers=bearer(cp.token("ops")), timeout=30)


def test_the_feed_needs_the_operator_role(cp: ControlPlane, feed: httpx.Client) -> None:
    for path in ("/v1/nodes", "/v1/nodes/targets", "/v1/nodes/prometheus-sd"):
        assert httpx.get(cp.api + path).status_code == 401
        refused = httpx.get(cp.api + path, headers=bearer(cp.token("alice")))
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "forbidden",
            "detail": "'alice' is not an operator (see auth.operators)",
        }
    assert (
        httpx.post(cp.api + "/v1/nodes/node-feed-1/drain", headers=bearer(cp.token("alice"))).status_code
        == 403
    )
    assert feed.get("/v1/nodes").status_code == 200


def test_nodes_with_state_labels_urls_and_what_they_serve(feed: httpx.Client) -> None:
    response = feed.get("/v1/nodes", params={"selector": FEED})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    nodes = response.json()["nodes"]
    assert [n["node_id"] for n in nodes] == ["node-feed-1", "node-feed-2"]
    first = nodes[0]
    assert first["state"] == "online" and first["labels"] == {"suite": "feed", "region": "tokyo"}
    assert first["public_url"] == "http://10.1.0.1:8080" and first["deployments"] == []
    assert first["last_heartbeat"].endswith(("Z", "+00:00"))
    tokyo = feed.get("/v1/nodes", params={"selector": f"{FEED} && region == 'tokyo'", "state": "online"})
    assert [n["node_id"] for n in tokyo.json()["nodes"]] == ["node-feed-1"]


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"state": "sleeping"}, 400, "bad_request"),
        ({"selector": "region =="}, 422, "bad_selector"),
        ({"selector": ""}, 422, "bad_selector"),
        ({"selector": "x" * 5000}, 400, "bad_request"),
    ],
)
def test_bad_filters_are_named(feed: httpx.Client, params: dict[str, str], status: int, error: str) -> None:
    for path in ("/v1/nodes", "/v1/nodes/targets", "/v1/nodes/prometheus-sd"):
        if "state" in params and path != "/v1/nodes":
            continue
        response = feed.get(path, params=params)
        assert (response.status_code, response.json()["error"]) == (status, error), response.text


def test_targets_and_prometheus_sd(feed: httpx.Client) -> None:
    targets = feed.get("/v1/nodes/targets", params={"selector": FEED})
    assert targets.headers["content-type"].startswith("text/plain")
    assert targets.text == "10.1.0.1:8080\nedge-2.internal:8080\n"
    sd = feed.get("/v1/nodes/prometheus-sd", params={"selector": FEED})
    assert sd.headers["content-type"] == "application/json"
    groups = sd.json()
    assert [g["targets"] for g in groups] == [["10.1.0.1:9090"], ["edge-2.internal:9090"]]
    assert groups[0]["labels"]["node_id"] == "node-feed-1"
    assert groups[0]["labels"]["__meta_edgefn_label_region"] == "tokyo"


def test_a_drained_node_leaves_the_targets_until_undrained(cp: ControlPlane, feed: httpx.Client) -> None:
    drained = feed.post("/v1/nodes/node-feed-2/drain")
    assert drained.status_code == 200 and drained.json()["state"] == "draining"
    assert feed.post("/v1/nodes/node-feed-2/drain").json()["state"] == "draining"  # idempotent
    assert feed.get("/v1/nodes/targets", params={"selector": FEED}).text == "10.1.0.1:8080\n"
    draining = feed.get("/v1/nodes", params={"selector": FEED, "state": "draining"}).json()["nodes"]
    assert [n["node_id"] for n in draining] == ["node-feed-2"]
    # Still watched while it drains: it serves until stopped.
    sd = feed.get("/v1/nodes/prometheus-sd", params={"selector": FEED}).json()
    assert [g["labels"]["__meta_edgefn_state"] for g in sd] == ["online", "draining"]
    node = cp.node_client("node-feed-2", labels={"suite": "feed", "region": "osaka"})
    beat(node, public_url="http://edge-2.internal:8080", metrics_url="http://edge-2.internal:9090")
    node.close()
    assert (
        feed.get("/v1/nodes/targets", params={"selector": FEED}).text == "10.1.0.1:8080\n"
    )  # beats keep it drained
    undrained = feed.post("/v1/nodes/node-feed-2/undrain")
    assert undrained.status_code == 200 and undrained.json()["state"] == "online"
    assert (
        feed.get("/v1/nodes/targets", params={"selector": FEED}).text
        == "10.1.0.1:8080\nedge-2.internal:8080\n"
    )


def test_draining_an_unknown_or_malformed_node(feed: httpx.Client) -> None:
    missing = feed.post("/v1/nodes/never-seen/drain")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "no node 'never-seen' has checked in"}
    assert feed.post("/v1/nodes/Not_A_Node!/undrain").status_code == 400


def test_a_heartbeat_with_a_bad_url_is_refused(cp: ControlPlane) -> None:
    """Not an http(s) URL: the document's pattern (400); one the feed cannot list as host:port: 422."""
    node = cp.node_client("node-feed-1", labels={"suite": "feed", "region": "tokyo"})
    try:
        for url, status in [("ftp://example:80", 400), ("http://example:port", 422)]:
            response = node.post("/v1/node/heartbeat", Heartbeat(node_id="node-feed-1", public_url=url))
            assert response.status_code == status, (url, response.text)
            assert "public_url" in str(response.json()["detail"])
    finally:
        node.close()


def test_openapi_documents_the_operator_routes(cp: ControlPlane) -> None:
    schema = httpx.get(f"{cp.api}/schema/openapi.json").json()
    for path in (
        "/v1/nodes",
        "/v1/nodes/targets",
        "/v1/nodes/prometheus-sd",
        "/v1/nodes/{node_id}/drain",
        "/v1/nodes/{node_id}/undrain",
    ):
        assert path in schema["paths"], path
    assert "text/plain" in schema["paths"]["/v1/nodes/targets"]["get"]["responses"]["200"]["content"]
    assert {"NodeInfo", "NodeList", "TargetGroup"} <= set(schema["components"]["schemas"])


def test_the_cp_counts_nodes_by_state(cp: ControlPlane, feed: httpx.Client) -> None:
    def gauge() -> dict[str, float]:
        text = httpx.get(f"{cp.api}/metrics", timeout=10).text
        return {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("edgefn_nodes{")
        }

    counts = wait_until(lambda: (g := gauge()) and g["online"] >= 2 and g, what="the edgefn_nodes gauge")
    assert set(counts) == {"online", "offline", "draining"}
    assert msgspec.json.decode(msgspec.json.encode(counts))  # plain numbers
