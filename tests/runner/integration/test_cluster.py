"""Real CP and runner processes over mTLS sockets: placement, integrity, outages, routing, rollback."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import httpx
from minio import Minio

from tests.cli.test_unavailable import assert_unavailable, stuck_project
from tests.procs import REPO, EdgefnProcess, run_cli, wait_until, write_project
from tests.runner.integration.cluster import Cluster

HELLO = (REPO / "functions/hello/hello.wat").read_text()
HELLO_V2 = HELLO.replace('"Hello from edgefn!\\n"', '"Hello, version two\\n"')
assert HELLO_V2 != HELLO


def hello_project(directory: Path, wat: str = HELLO, selector: str = "true") -> Path:
    return write_project(
        directory,
        f"""
project = "demo"

[[functions]]
name = "hello"
wasm = "hello.wat"
min_hot_instances = 2

[[routes]]
path = "/hello"
function = "hello"

[[deployments]]
function = "hello"
selector = "{selector}"
""",
        {"hello.wat": wat},
    )


def test_a_selector_places_the_function_on_the_matching_runner_only(
    s3_cluster: Cluster, tmp_path: Path
) -> None:
    s3_cluster.start_cp(["tokyo", "paris"])
    tokyo = s3_cluster.start_runner("tokyo", {"region": "tokyo"}, workers=2)
    paris = s3_cluster.start_runner("paris", {"region": "paris"})
    s3_cluster.deploy(hello_project(tmp_path / "p", selector="region == 'tokyo'"))

    response = tokyo.wait_serving("/hello")
    assert response.text == "Hello from edgefn!\n"
    wait_until(lambda: s3_cluster.node_states("tokyo").get(("demo.hello", 1), {}).get("state") == "cached")
    # Both workers serve: a dozen fresh connections spread over them, each answers.
    assert {tokyo.get("/hello").status_code for _ in range(12)} == {200}
    wait_until(  # each worker warmed min_hot_instances = 2; the agent's /metrics sums them
        lambda: tokyo.metric("edgefn_pool_instances", function_id="demo.hello") == 4.0,
        what="both workers' hot instances in the pool gauge",
    )
    assert paris.get("/hello").status_code == 404
    assert s3_cluster.node_states("paris") == {}
    assert (tokyo.cache_dir / "demo.hello" / "1.wasm").is_file()
    assert (tokyo.cache_dir / "demo.hello" / "1.cwasm").is_file()  # compiled once, by the agent
    assert not (paris.cache_dir / "demo.hello").exists()
    served = json.loads((tokyo.state_dir / "serving.json").read_text())
    assert [f["function_id"] for f in served["functions"]] == ["demo.hello"]
    # Only the workers serve, yet a tail sees their invocations: they hand them to the agent.
    args = s3_cluster.cli("tail", "--project", "demo", "--format", "json")
    tail = EdgefnProcess(args, cwd=tmp_path, env=None, log_dir=tmp_path / "logs", name="tail")
    try:
        wait_until(lambda: "tailing demo" in tail.stderr, what="the tail to connect")
        wait_until(lambda: tokyo.get("/hello") and tail.stdout, interval=0.2, what="a worker's first line")
        assert {json.loads(line)["node_id"] for line in tail.stdout.splitlines()} == {"tokyo"}
    finally:
        tail.stop()


def test_a_tampered_artifact_is_refused_reported_and_never_cached(
    s3_cluster: Cluster, tmp_path: Path
) -> None:
    s3_cluster.start_cp(["tokyo"])
    s3_cluster.deploy(hello_project(tmp_path / "p"))
    s3 = s3_cluster.s3
    assert s3 is not None
    bucket = s3_cluster.cp_settings()["artifacts"]["s3"]["bucket"]
    evil = HELLO_V2.encode()
    client = Minio(s3.endpoint, s3.access_key, s3.secret_key, secure=False)
    (stored,) = client.list_objects(bucket, prefix="demo.hello/1/")  # the finalized artifact
    client.put_object(bucket, str(stored.object_name), io.BytesIO(evil), len(evil))
    tokyo = s3_cluster.start_runner("tokyo", {"region": "tokyo"})

    state = wait_until(
        lambda: (d := s3_cluster.node_states("tokyo").get(("demo.hello", 1))) and d["state"] == "error" and d,
        what="the integrity error at the CP",
    )
    assert "does not match" in state["error"]
    refused = tokyo.get("/hello")  # routed, but it cannot run here: 503 naming why, not a 404
    assert refused.status_code == 503 and "does not match" in refused.json()["detail"], refused.text
    assert not (tokyo.cache_dir / "demo.hello").exists()
    assert list((tokyo.cache_dir / ".tmp").iterdir()) == []
    assert s3_cluster.cp is not None
    cp_log = wait_until(lambda: "runner reported an error" in (e := s3_cluster.cp.stderr) and e)
    assert "tokyo" in cp_log and "demo.hello" in cp_log


def test_a_function_that_cannot_start_answers_503_on_every_node_and_each_reports_why(
    local_cluster: Cluster, tmp_path: Path
) -> None:
    """A start function that never returns: the agent of a multi-worker runner warms it too, so its
    workers answer 503 with the agent's reason, and status shows the error for both nodes."""
    local_cluster.start_cp(["tokyo", "paris"])
    tokyo = local_cluster.start_runner("tokyo", {"region": "tokyo"}, workers=2)
    paris = local_cluster.start_runner("paris", {"region": "paris"})
    local_cluster.deploy(stuck_project(tmp_path / "p"))

    for runner in (tokyo, paris):
        assert runner.wait_serving("/hello").text == "hello"
        response = runner.wait_serving("/stuck", 503)
        assert_unavailable(response, "stuckdemo.stuck")
        states = wait_until(
            lambda r=runner: (
                (s := local_cluster.node_states(r.node_id).get(("stuckdemo.stuck", 1)))
                and s["state"] == "error"
                and s
            ),
            what=f"the error of {runner.node_id} at the CP",
        )
        assert states["error"] in response.json()["detail"]
        assert runner.proc is not None
        assert f"deployment of stuckdemo.stuck v1 failed: {states['error']}" in runner.proc.stderr
    # Both workers of tokyo answer so: a dozen fresh connections spread over them.
    assert {tokyo.get("/stuck").status_code for _ in range(12)} == {503}
    assert local_cluster.cp is not None
    cp_log = local_cluster.cp.stderr
    assert "runner reported an error: node_id=tokyo function_id=stuckdemo.stuck" in cp_log
    assert "runner reported an error: node_id=paris function_id=stuckdemo.stuck" in cp_log


def test_a_runner_restarted_while_the_cp_is_down_serves_from_its_cache_then_reconnects(
    local_cluster: Cluster, tmp_path: Path
) -> None:
    local_cluster.start_cp(["tokyo"])
    tokyo = local_cluster.start_runner("tokyo", {"region": "tokyo"})
    local_cluster.deploy(hello_project(tmp_path / "p"))
    tokyo.wait_serving("/hello")

    local_cluster.stop_cp()  # the local backend: no artifact can be fetched now
    tokyo.stop()
    tokyo.start()
    assert tokyo.get("/hello").text == "Hello from edgefn!\n"  # served at start, from the verified cache
    assert tokyo.metric("edgefn_sync_connected") == 0.0

    local_cluster.start_cp(["tokyo"])
    wait_until(
        lambda: tokyo.metric("edgefn_sync_connected") == 1.0, timeout=30, what="the agent reconnecting"
    )
    assert local_cluster.node_states("tokyo")[("demo.hello", 1)]["state"] == "cached"
    assert tokyo.proc is not None and "control plane unreachable" in tokyo.proc.stderr


def test_a_corrupt_cache_file_is_dropped_and_refetched(s3_cluster: Cluster, tmp_path: Path) -> None:
    s3_cluster.start_cp(["tokyo"])
    tokyo = s3_cluster.start_runner("tokyo", {"region": "tokyo"})
    s3_cluster.deploy(hello_project(tmp_path / "p"))
    tokyo.wait_serving("/hello")
    tokyo.stop()
    wasm = tokyo.cache_dir / "demo.hello" / "1.wasm"
    good = wasm.read_bytes()
    wasm.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    tokyo.start()
    assert tokyo.wait_serving("/hello").text == "Hello from edgefn!\n"
    assert wasm.read_bytes() == good
    assert (tokyo.metric("wasm_cache_misses_total") or 0) >= 1


def test_routing_precedence_params_405_and_404_through_the_ingress(
    s3_cluster: Cluster, tmp_path: Path
) -> None:
    project = write_project(
        tmp_path / "routes",
        """
project = "routes"

[[functions]]
name = "echo"
wasm = "echo.c"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[routes]]
path = "/users/{id}/posts/{post}"
methods = ["GET"]
function = "echo"

[[routes]]
host = "api.example.com"
path = "/users/*"
function = "hello"

[[routes]]
host = "*.example.com"
path = "/users/{id}/posts/{post}"
function = "hello"
priority = 5

[[deployments]]
function = "echo"

[[deployments]]
function = "hello"
""",
        {"echo.c": (REPO / "functions/echo/echo.c").read_text(), "hello.wat": HELLO},
    )
    s3_cluster.start_cp(["edge"])
    edge = s3_cluster.start_runner("edge", {"region": "x"})
    s3_cluster.deploy(project)
    echoed = edge.wait_serving("/users/42/posts/7")
    headers = json.loads(echoed.text.splitlines()[0])["headers"]
    assert headers["x-edgefn-param-id"] == "42" and headers["x-edgefn-param-post"] == "7"
    # The more specific host wins before path specificity and priority are compared (the deployments
    # arrive one by one, so hello may come after echo already serves).
    wait_until(
        lambda: (
            edge.get("/users/42/posts/7", headers={"host": "a.example.com"}).text == "Hello from edgefn!\n"
        ),
        what="the *.example.com route",
    )
    assert edge.get("/users/9", headers={"host": "api.example.com"}).text == "Hello from edgefn!\n"
    assert edge.get("/users/9").status_code == 404
    refused = httpx.post(edge.ingress + "/users/42/posts/7", timeout=10)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    assert edge.get("/nothing/here").json()["error"] == "not_found"


def test_rollback_and_undeploy_swap_routes_and_drain_pools(s3_cluster: Cluster, tmp_path: Path) -> None:
    s3_cluster.start_cp(["tokyo"])
    tokyo = s3_cluster.start_runner("tokyo", {"region": "tokyo"})
    s3_cluster.deploy(hello_project(tmp_path / "p"))
    tokyo.wait_serving("/hello")
    v2 = tmp_path / "p2"
    shutil.copytree(tmp_path / "p", v2)
    (v2 / "hello.wat").write_text(HELLO_V2)
    s3_cluster.deploy(v2)
    wait_until(lambda: tokyo.get("/hello").text == "Hello, version two\n", what="v2 serving")
    assert tokyo.metric("edgefn_pool_instances", function_id="demo.hello") == 2.0  # v2 warmed, v1 drained

    rolled = run_cli(*s3_cluster.cli("rollback", "hello", "--to", "1", "--project", "demo"))
    assert rolled.returncode == 0, rolled.stderr
    wait_until(lambda: tokyo.get("/hello").text == "Hello from edgefn!\n", what="v1 serving again")

    undeployed = httpx.post(
        f"{s3_cluster.api}/v1/projects/demo/functions/hello/undeploy",
        headers={"authorization": f"Bearer {s3_cluster.token}"},
        timeout=10,
    )
    assert undeployed.status_code < 300, undeployed.text
    tokyo.wait_serving("/hello", 404, what="undeployed")
    wait_until(lambda: tokyo.metric("edgefn_pool_instances", function_id="demo.hello") == 0.0)
