"""Gradual rollouts in the distributed roles: a CP on PostgreSQL and two runner processes (one with
two ingress workers), all real, over real sockets. The guests answer their own version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import answering_wat, run_cli, wait_until, write_project
from tests.runner.integration.cluster import Cluster, Runner, clusters
from tests.services import PostgresServer

PROJECT = """
project = "site"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[routes]]
path = "/hello"
function = "hello"

[[deployments]]
function = "hello"
"""
KEYS = [f"user-{n}" for n in range(20)]


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresServer) -> Iterator[Cluster]:
    yield from clusters(tmp_path, database_url=postgres.new_database())


def by_key(runner: Runner) -> dict[str, str]:
    return {key: runner.get("/hello", headers={"x-edgefn-version-key": key}).text for key in KEYS}


def test_runners_agree_on_a_keys_version_and_keep_the_rollout_through_a_cp_outage(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.start_cp(["edge-a", "edge-b"])
    a = cluster.start_runner("edge-a", {"region": "a"})
    b = cluster.start_runner("edge-b", {"region": "b"}, workers=2)
    project = write_project(tmp_path / "site", PROJECT, {"hello.wat": answering_wat("v1")})
    cluster.deploy(project)
    (project / "hello.wat").write_text(answering_wat("v2"))
    cluster.deploy(project)
    for runner in (a, b):
        wait_until(lambda r=runner: r.get("/hello").text == "v2", timeout=30, what="v2 deployed")

    rolled = run_cli(*cluster.cli("rollout", "hello", "1=50", "2=50", "--project", "site"))
    assert rolled.returncode == 0, rolled.stderr
    for runner in (a, b):
        wait_until(lambda r=runner: r.get("/hello").text == "v1", timeout=30, what="the rollout applied")
        assert {runner.get("/hello").text for _ in range(200)} == {"v1", "v2"}

    # The same key reaches the same version on either runner (and either of b's workers).
    seen = by_key(a)
    assert set(seen.values()) == {"v1", "v2"}
    assert by_key(b) == seen
    assert by_key(b) == seen

    # The CP goes away and b restarts: the rollout was in the desired state b kept on disk.
    cluster.stop_cp()
    b.stop()
    b.start()
    b.wait_serving("/hello")
    assert {b.get("/hello").text for _ in range(200)} == {"v1", "v2"}
    assert by_key(b) == seen
    assert by_key(a) == seen
