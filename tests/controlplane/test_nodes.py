"""The node listener: mTLS, node tokens and the allow-list, error reports, the daily CPU quota."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from edgehost.protocol import Heartbeat, Report
from edgehost.security.ca import init_ca, issue_node
from edgehost.security.tls import client_ssl_context
from tests.controlplane.harness import ControlPlane, NodeClient, bearer, logged


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA, with a certificate for an allowed node id."""
    directory = tmp_path_factory.mktemp("foreign-ca")
    init_ca(directory)
    issue_node(directory, "node-a")
    return directory


def test_the_handshake_refuses_a_certificate_from_another_ca(cp: ControlPlane, foreign: Path) -> None:
    context = client_ssl_context(cp.config.pki.ca, foreign / "node-a.pem", foreign / "node-a.key")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{cp.node}/healthz", verify=context)
    trusted = cp.node_client("node-a")
    assert trusted.http.get("/healthz").status_code == 200
    trusted.close()


def test_the_handshake_refuses_a_client_without_certificate(cp: ControlPlane) -> None:
    context = ssl.create_default_context(cafile=str(cp.config.pki.ca))
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{cp.node}/healthz", verify=context)


def test_a_token_with_a_foreign_certificate_is_401(cp: ControlPlane, foreign: Path) -> None:
    node = cp.node_client("node-a")
    forged = NodeClient(
        cp.node, "node-a", foreign / "node-a.pem", foreign / "node-a.key", cp.config.pki.ca, {}
    )
    response = node.http.get("/v1/node/watch", params={"timeout": 0}, headers=bearer(forged.token()))
    assert response.status_code == 401 and "not trusted" in response.json()["detail"]
    node.close()


def test_a_node_off_the_allow_list_is_403(cp: ControlPlane) -> None:
    stranger = cp.node_client("node-stranger")
    response = stranger.http.get("/v1/node/watch", params={"timeout": 0}, headers=bearer(stranger.token()))
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "detail": "node 'node-stranger' is not allowed"}
    stranger.close()


def test_replayed_missing_and_mismatched_tokens(cp: ControlPlane) -> None:
    node = cp.node_client("node-a")
    token = node.token()
    now = {"timeout": 0, "revision": 2**31}
    assert node.http.get("/v1/node/watch", params=now, headers=bearer(token)).status_code == 204
    replay = node.http.get("/v1/node/watch", params=now, headers=bearer(token))
    assert replay.status_code == 401 and replay.json()["detail"] == "node token replayed"
    assert node.http.get("/v1/node/watch").status_code == 401
    # A node may only speak for itself.
    other = node.post("/v1/node/heartbeat", Heartbeat(node_id="node-b"))
    assert other.status_code == 403
    node.close()


def test_error_reports_are_stored_and_logged(cp: ControlPlane) -> None:
    node = cp.node_client("node-b")
    stamp = time.time()
    report = Report(
        node_id="node-b",
        function_id="audit.fn",
        version=7,
        state="error",
        error="sha256 mismatch for audit.fn v7",
        timestamp=stamp,
        expected_sha256="aa" * 32,
        actual_sha256="bb" * 32,
    )
    assert node.report(report).status_code == 202
    line = logged(cp, "function_id=audit.fn")
    assert "ERROR" in line and "node_id=node-b" in line and "version=7" in line
    assert "error_message=sha256 mismatch for audit.fn v7" in line
    assert re.search(r"timestamp=\d{4}-\d\d-\d\dT", line)
    rows = asyncio.run(_error_rows(cp.config.database_url))
    assert [(r["node_id"], r["version"], r["message"]) for r in rows] == [
        ("node-b", 7, "sha256 mismatch for audit.fn v7")
    ]
    assert rows[0]["reported_at"] is not None
    node.close()


async def _error_rows(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch("SELECT * FROM edgefn_error_report WHERE function_id = 'audit.fn'"))
    finally:
        await conn.close()


def test_daily_cpu_quota_blocks_the_tenant_everywhere(cp: ControlPlane) -> None:
    limit = cp.config.cpu_seconds_per_day
    one, two = cp.node_client("node-q1"), cp.node_client("node-q2")
    first = one.heartbeat(cpu_usage={"quota-t": limit * 0.6, "quota-other": 1.0})
    assert "quota-t" not in first.desired.blocked_tenants
    revision = first.desired.revision
    second = two.heartbeat(cpu_usage={"quota-t": limit * 0.6, "Not A Tenant!": 1e9})
    assert "quota-t" in second.desired.blocked_tenants
    assert "quota-other" not in second.desired.blocked_tenants
    # Crossing the quota wakes watchers: every node learns at once.
    assert "quota-t" in one.desired_after(revision, timeout=10).blocked_tenants
    one.close()
    two.close()
