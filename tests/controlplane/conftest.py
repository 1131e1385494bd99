"""Control planes (real PostgreSQL, SeaweedFS S3, mTLS): one shared, one per storage backend; the PKI."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from tests.controlplane.harness import ControlPlane, CpConfig, Pki, control_plane
from tests.procs import run_cli
from tests.services import PostgresServer, S3Server

NODE = "node-art"  # the one node of `any_cp`
NODES = (
    "node-a",
    "node-b",
    "node-late",
    "node-off",
    "node-q1",
    "node-q2",
    "node-rb",
    "node-w",
    "node-2cp",
    "node-claims",
    "node-feed-1",
    "node-feed-2",
)
# The subjects of `auth.operators`: the node feed's tests, and the API fuzzer (so it reaches the
# operator routes' handlers, not only their 403).
OPERATORS = ("ops", "fuzz-owner")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    for args in (("init",), ("server", "127.0.0.1")):
        result = run_cli("ca", *args, "--dir", str(directory))
        assert result.returncode == 0, result.stderr
    return Pki(directory)


@pytest.fixture(scope="session")
def cp_config(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, s3_server: S3Server, pki: Pki
) -> CpConfig:
    work = tmp_path_factory.mktemp("cp-config")
    return CpConfig(
        database_url=postgres.new_database(),
        s3=s3_server,
        pki=pki,
        signing_key=work / "signing.pem",
        state_dir=work / "state",
        allow=NODES,
        operators=OPERATORS,
    )


@pytest.fixture(scope="session")
def cp(cp_config: CpConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    work = tmp_path_factory.mktemp("cp")
    # The CLI creates the signing key the CP then trusts.
    minted = run_cli("token", "--config", str(cp_config.write(work / "token.toml", 1, 2)), "--subject", "x")
    assert minted.returncode == 0, minted.stderr
    with control_plane(cp_config, work) as server:
        yield server


@pytest.fixture(scope="session", params=["s3", "local"])
def any_cp(
    request: pytest.FixtureRequest,
    cp_config: CpConfig,
    postgres: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ControlPlane]:
    """A CP on each storage backend: S3 with PostgreSQL, or SQLite with the `local` artifact folder
    (URLs the CP signs and serves itself); its node list has `NODE` only."""
    work = tmp_path_factory.mktemp(f"{request.param}-cp")
    sqlite = f"sqlite:///{work / 'edgefn.db'}"
    config = dataclasses.replace(
        cp_config,
        database_url=postgres.new_database() if request.param == "s3" else sqlite,
        state_dir=work / "state",
        signing_key=work / "signing.pem",
        allow=(NODE,),
        backend=request.param,
    )
    # The CLI creates the signing key the CP then trusts.
    minted = run_cli("token", "--config", str(config.write(work / "token.toml", 1, 2)), "--subject", "x")
    assert minted.returncode == 0, minted.stderr
    with control_plane(config, work, f"{request.param}-cp") as server:
        yield server
