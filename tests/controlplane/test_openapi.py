"""The OpenAPI document describes the developer API well enough for schemathesis to find no server errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.controlplane.harness import ControlPlane

ST = str(Path(sys.executable).with_name("st"))


def test_openapi_lists_the_developer_api(cp: ControlPlane) -> None:
    schema = httpx.get(f"{cp.api}/schema/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/v1/projects/{project}/functions",
        "/v1/projects/{project}/deployments",
        "/v1/projects/{project}/functions/{name}/rollback",
        "/v1/projects/{project}/members",
        "/v1/status",
    ):
        assert path in paths, path
    assert "/v1/node/heartbeat" not in paths  # served only on the mTLS listener


def test_schemathesis_finds_no_server_errors(cp: ControlPlane, tmp_path: Path) -> None:
    owner = cp.developer("fuzz-owner")
    owner.publish("fuzz", "fn")
    result = subprocess.run(
        [
            ST,
            "run",
            f"{cp.api}/schema/openapi.json",
            "--header",
            f"Authorization: Bearer {cp.token('fuzz-owner')}",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--workers",
            "1",
            "--exclude-path-regex",
            "/tail$",  # a live NDJSON stream: it never ends, by design
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "internal_error" not in cp.stderr
