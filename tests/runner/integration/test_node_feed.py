"""The online-node feed with real CP and runner processes, on SQLite and PostgreSQL: runners that
stop leave it within `heartbeat.offline_after_s` (plus one sweep), come back into it when they
return, and a drained runner leaves it while it still serves."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import run_cli, wait_until
from tests.runner.integration.cluster import Cluster, clusters
from tests.runner.integration.test_cluster import hello_project

OFFLINE_AFTER_S = 4.0
SWEEP_S = OFFLINE_AFTER_S / 4  # Nodes.sweep_interval_s below 20 s
SLACK_S = 10.0  # a loaded two-core machine: process exit, scheduling; not a measured bound


@pytest.fixture(params=["sqlite", "postgresql"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgresql" else ""
    yield from clusters(tmp_path, database_url=url)


def operator_get(cluster: Cluster, path: str, **params: str) -> httpx.Response:
    response = httpx.get(
        cluster.api + path, params=params, headers={"authorization": f"Bearer {cluster.token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response


def targets(cluster: Cluster) -> list[str]:
    return operator_get(cluster, "/v1/nodes/targets").text.splitlines()


def scraped(cluster: Cluster) -> list[str]:
    return [t for group in operator_get(cluster, "/v1/nodes/prometheus-sd").json() for t in group["targets"]]


def states(cluster: Cluster, *args: str) -> dict[str, str]:
    result = run_cli(*cluster.cli("nodes", "--json", *args))
    assert result.returncode == 0, result.stderr
    return {n["node_id"]: n["state"] for n in json.loads(result.stdout)["nodes"]}


def table_row(cluster: Cluster, node_id: str) -> str:
    """`edgefn nodes`' line for the node, as an operator reads it."""
    result = run_cli(*cluster.cli("nodes"), env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if f" {node_id} " in line)


def test_the_feed_follows_runners_that_stop_return_and_drain(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_cp(
        ["tokyo", "paris"], heartbeat={"offline_after_s": OFFLINE_AFTER_S}, auth={"operators": ["dev"]}
    )
    tokyo = cluster.start_runner("tokyo", {"region": "tokyo"})
    paris = cluster.start_runner("paris", {"region": "paris"})
    at_tokyo, at_paris = (f"127.0.0.1:{r.ingress_port}" for r in (tokyo, paris))
    wait_until(lambda: sorted(targets(cluster)) == sorted([at_tokyo, at_paris]), what="both in the targets")
    assert sorted(scraped(cluster)) == sorted(f"127.0.0.1:{r.metrics_port}" for r in (tokyo, paris))
    assert states(cluster) == {"paris": "online", "tokyo": "online"}
    assert states(cluster, "--selector", "region == 'paris'") == {"paris": "online"}
    cluster.deploy(hello_project(tmp_path / "p"))
    tokyo.wait_serving("/hello")

    drained = run_cli(*cluster.cli("drain", "tokyo"))
    assert drained.returncode == 0 and "tokyo is draining" in drained.stdout, drained.stderr
    assert targets(cluster) == [at_paris]
    assert states(cluster, "--state", "draining") == {"tokyo": "draining"}
    assert tokyo.get("/hello").text == "Hello from edgefn!\n"  # out of the feed, still serving
    assert f"127.0.0.1:{tokyo.metrics_port}" in scraped(cluster)  # and still watched

    paris.stop()
    stopped = time.monotonic()
    wait_until(
        lambda: targets(cluster) == [],
        timeout=OFFLINE_AFTER_S + SWEEP_S + SLACK_S,
        interval=0.2,
        what="paris leaving the targets",
    )
    print(f"paris left the targets {time.monotonic() - stopped:.1f}s after it stopped")
    assert states(cluster)["paris"] == "offline"
    assert "offline" in table_row(cluster, "paris")
    assert scraped(cluster) == [f"127.0.0.1:{tokyo.metrics_port}"]
    assert cluster.cp is not None
    logged = [line for line in cluster.cp.stderr.splitlines() if "node paris offline: last heartbeat" in line]
    assert len(logged) == 1, cluster.cp.stderr[-3000:]

    paris.start()
    wait_until(lambda: targets(cluster) == [at_paris], what="paris back in the targets")
    assert "online" in table_row(cluster, "paris")
    undrained = run_cli(*cluster.cli("undrain", "tokyo"))
    assert undrained.returncode == 0 and "tokyo is online: back in the node feed" in undrained.stdout
    assert sorted(targets(cluster)) == sorted([at_tokyo, at_paris])
    assert [line for line in cluster.cp.stderr.splitlines() if "node paris offline" in line] == logged


@pytest.mark.parametrize("cluster", ["sqlite"], indirect=True)  # the drain's storage is engine-neutral
def test_a_drained_runner_stays_out_of_the_feed_across_a_restart(cluster: Cluster) -> None:
    cluster.start_cp(["tokyo"], heartbeat={"offline_after_s": OFFLINE_AFTER_S}, auth={"operators": ["dev"]})
    # Behind a proxy the load balancer reaches it at another address: what `runner.public_url` says.
    tokyo = cluster.start_runner(
        "tokyo", {"region": "tokyo"}, runner={"public_url": "https://tokyo.edge.example"}
    )
    wait_until(lambda: targets(cluster) == ["tokyo.edge.example:443"], what="tokyo in the targets")
    assert scraped(cluster) == [f"127.0.0.1:{tokyo.metrics_port}"]  # runner.metrics_url left to its default
    assert run_cli(*cluster.cli("drain", "tokyo")).returncode == 0
    tokyo.stop()
    tokyo.start()
    wait_until(lambda: states(cluster) == {"tokyo": "draining"}, what="tokyo checking in again")
    assert targets(cluster) == []
