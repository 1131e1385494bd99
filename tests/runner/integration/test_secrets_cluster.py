"""Secrets in the distributed roles: a CP on PostgreSQL and two runner processes (one with two ingress
workers), all real, with mTLS between them. A runner restarted while the CP is down serves the secret
from its own state, where it is sealed with the node's key; no file, log or answer holds it in clear.

The guest is tests/guests/wasi.wat's `environ` export, which answers its WASI environ."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import REPO, run_cli, wait_until
from tests.runner.integration.cluster import Cluster, clusters
from tests.services import PostgresServer

PROJECT = """
project = "vault"

[[functions]]
name = "env"
wasm = "wasi.wat"
entrypoint = "environ"
env = { REGION = "everywhere" }
secrets = ["API_TOKEN"]

[[routes]]
path = "/env"
function = "env"

[[deployments]]
function = "env"
"""


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresServer) -> Iterator[Cluster]:
    yield from clusters(tmp_path, database_url=postgres.new_database())


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def stored_values(postgres: PostgresServer, database_url: str) -> list[str]:
    """What PostgreSQL holds of every secret: the CP's rows and the deployments' copies."""
    query = "SELECT sealed FROM edgefn_secret UNION ALL SELECT sealed FROM edgefn_deployment_secret"
    out = subprocess.run(
        [str(postgres.bin_dir / "psql"), database_url, "-Atc", query],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_runners_serve_secrets_they_keep_sealed_and_restart_with_them_while_the_cp_is_down(
    cluster: Cluster, tmp_path: Path, postgres: PostgresServer
) -> None:
    value = f"tok-{uuid.uuid4().hex}"
    expected = f"API_TOKEN={value}\0REGION=everywhere\0".encode()
    cluster.start_cp(["edge-a", "edge-b"])
    a = cluster.start_runner("edge-a", {"region": "a"})
    b = cluster.start_runner("edge-b", {"region": "b"}, workers=2)
    project = tmp_path / "vault"
    project.mkdir()
    (project / "edgefn.toml").write_text(PROJECT)
    shutil.copy(REPO / "tests" / "guests" / "wasi.wat", project / "wasi.wat")

    # Not set yet: the deployment is refused, naming it.
    refused = run_cli(*cluster.cli("deploy", "--project", str(project)))
    assert refused.returncode == 1 and "API_TOKEN" in refused.stderr, refused.stderr
    stored = run_cli(*cluster.cli("secret", "set", "env", "API_TOKEN", "--project", "vault"), input=value)
    assert stored.returncode == 0, stored.stderr
    outputs = [stored.stdout, stored.stderr, cluster.deploy(project)]
    assert a.wait_serving("/env").content == expected
    assert {b.get("/env").content for _ in range(6)} == {expected}  # every worker of b
    listed = run_cli(*cluster.cli("secret", "list", "env", "--project", "vault"))
    outputs += [listed.stdout, listed.stderr, json.dumps(cluster.status())]
    assert listed.stdout.startswith("API_TOKEN\t")
    # Set again: what runs keeps the value it took until the next deployment, on every worker too.
    first, value = value, f"tok-{uuid.uuid4().hex}"
    stored = run_cli(*cluster.cli("secret", "set", "env", "API_TOKEN", "--project", "vault"), input=value)
    assert stored.returncode == 0, stored.stderr
    assert a.get("/env").content == expected
    expected = f"API_TOKEN={value}\0REGION=everywhere\0".encode()
    outputs += [stored.stdout, stored.stderr, cluster.deploy(project)]
    wait_until(lambda: a.get("/env").content == expected, what="the new value on a")
    wait_until(lambda: {b.get("/env").content for _ in range(6)} == {expected}, what="every worker of b")
    outputs += [httpx.get(runner.metrics + "/metrics", timeout=10).text for runner in (a, b)]
    # Encrypted at rest: the CP's row and the live deployment's copy (the replaced one's is gone).
    at_rest = stored_values(postgres, cluster.database_url)
    assert len(at_rest) == 2 and all(v.startswith("v1.") and value not in v for v in at_rest)

    # The CP goes away; both runners restart and serve the secret from their sealed state.
    cluster.stop_cp()
    for runner in (a, b):
        runner.stop()
        runner.start()
        assert runner.wait_serving("/env").content == expected
        assert "v1." in (runner.state_dir / "desired.json").read_text()
    assert {b.get("/env").content for _ in range(6)} == {expected}

    for runner in (a, b):
        runner.stop()
    for secret in (first, value):
        for text in outputs:
            assert secret not in text
        # Nothing on disk holds it in clear: CP and runner state, caches, every process's log.
        assert files_holding(cluster.root, secret.encode()) == []
