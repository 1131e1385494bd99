"""`fresh_instance` through real processes: a control plane on PostgreSQL, a runner with two
ingress workers (each keeping its own instances made ahead), and a restart from the runner's
state file while the control plane is down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import REPO, wait_until, write_project
from tests.runner.integration.cluster import Cluster, Runner, clusters
from tests.services import PostgresServer

COUNTER = (REPO / "tests/guests/counter.wat").read_text()  # answers how many requests its instance got
READY_AHEAD = 2
PROJECT = f"""project = "once"
[[functions]]
name = "fresh"
wasm = "counter.wat"
fresh_instance = true
min_hot_instances = {READY_AHEAD}
[[routes]]
path = "/fresh"
function = "fresh"
[[deployments]]
function = "fresh"
"""


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresServer) -> Iterator[Cluster]:
    yield from clusters(tmp_path, database_url=postgres.new_database())


def answers(runner: Runner, times: int) -> set[str]:
    """Bodies of `times` requests, each on a new connection (so both workers take some)."""
    return {httpx.get(f"{runner.ingress}/fresh", timeout=10).text for _ in range(times)}


def test_every_worker_serves_each_request_on_a_fresh_instance_before_and_after_a_restart(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.start_cp(["edge"])
    runner = cluster.start_runner("edge", {"region": "a"}, workers=2)
    cluster.deploy(write_project(tmp_path / "p", PROJECT, {"counter.wat": COUNTER}))
    runner.wait_serving("/fresh")
    assert answers(runner, 20) == {"001"}
    wait_until(  # each worker keeps its own ready set; the agent's /metrics sums them
        lambda: runner.metric("edgefn_pool_instances", function_id="once.fresh") == 2 * READY_AHEAD,
        what="both workers' instances made ahead",
    )
    # From the state file alone (no control plane to ask), the key still holds.
    cluster.stop_cp()
    runner.stop()
    runner.start()
    runner.wait_serving("/fresh")
    assert answers(runner, 20) == {"001"}
