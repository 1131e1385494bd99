"""KV stores and `env` in the distributed roles: a CP on PostgreSQL, Redis as the shared store and
two runner processes (one with two ingress workers), all real, over real sockets.

The guest is tests/guests/kv.wat (a host call's negative code answers 400 - code)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import REPO, run_cli, wait_until
from tests.runner.integration.cluster import Cluster, Runner, clusters
from tests.services import PostgresServer, RedisServer

GUESTS = REPO / "tests" / "guests"
PROJECT = """
project = "shop"

[[functions]]
name = "carts"
wasm = "kv.wat"
memory_pages = 64
max_execution_ms = 2000
kv = ["default"]

[[functions]]
name = "env"
wasm = "wasi.wat"
entrypoint = "environ"
env = { REGION = "everywhere" }

[[routes]]
path = "/kv/*"
function = "carts"

[[routes]]
path = "/env"
function = "env"

[[deployments]]
function = "carts"

[[deployments]]
function = "env"
"""


def put(runner: Runner, path: str, value: bytes) -> httpx.Response:
    return httpx.put(runner.ingress + path, content=value, timeout=10)


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresServer) -> Iterator[Cluster]:
    yield from clusters(tmp_path, database_url=postgres.new_database())


def test_runners_share_the_store_and_requests_without_kv_outlive_redis(
    cluster: Cluster, redis_server: RedisServer, tmp_path: Path
) -> None:
    kv = {"backend": "redis", "redis_url": f"{redis_server.url}/14", "timeout_s": 0.5}
    cluster.start_cp(["edge-a", "edge-b"], kv=kv)
    a = cluster.start_runner("edge-a", {"region": "a"}, kv=kv)
    b = cluster.start_runner("edge-b", {"region": "b"}, workers=2, kv=kv)
    project = tmp_path / "shop"
    project.mkdir()
    (project / "edgefn.toml").write_text(PROJECT)
    for name in ("kv.wat", "wasi.wat"):
        shutil.copy(GUESTS / name, project / name)
    cluster.deploy(project)
    a.wait_serving("/kv/default/cart", 401)
    b.wait_serving("/kv/default/cart", 401)

    # A value set through one runner is read through the other (and by each of its workers).
    assert put(a, "/kv/default/cart", b"3 apples").status_code == 200
    assert {b.get("/kv/default/cart").content for _ in range(6)} == {b"3 apples"}
    assert put(b, "/kv/default/cart", b"4 apples").status_code == 200
    assert a.get("/kv/default/cart").content == b"4 apples"  # read-your-writes across nodes
    # The operator's CLI reaches the same store through the CP.
    got = run_cli(*cluster.cli("kv", "get", "default", "cart", "--project", "shop"))
    assert (got.returncode, got.stdout) == (0, "4 apples"), got.stderr
    stored = run_cli(*cluster.cli("kv", "put", "default", "note", "--project", "shop"), input="from ops")
    assert stored.returncode == 0, stored.stderr
    assert b.get("/kv/default/note").content == b"from ops"
    assert httpx.delete(a.ingress + "/kv/default/note", timeout=10).status_code == 200
    assert b.get("/kv/default/note").status_code == 401
    # env travelled CP -> runner in the desired state.
    assert b.get("/env").content == b"REGION=everywhere\0"

    # Redis down: KV calls fail with -3 within the deadline, everything else keeps serving.
    redis_server.stop()
    try:
        assert a.get("/kv/default/cart").status_code == 403
        assert put(b, "/kv/default/cart", b"lost").status_code == 403
        assert a.get("/env").status_code == 200
        assert b.get("/env").content == b"REGION=everywhere\0"
        down = run_cli(*cluster.cli("kv", "get", "default", "cart", "--project", "shop"))
        assert down.returncode == 1 and "503 kv_unavailable" in down.stderr
    finally:
        redis_server.start()
    # Back: a fresh connection; (this test's Redis keeps nothing across its own restart).
    wait_until(lambda: put(a, "/kv/default/cart", b"again").status_code == 200, what="redis back")
    assert b.get("/kv/default/cart").content == b"again"
    # A runner restart loses nothing: the store is Redis, not the runner.
    a.stop()
    a.start()
    assert a.wait_serving("/kv/default/cart").content == b"again"
