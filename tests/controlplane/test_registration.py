"""Registration on S3: presigned upload, finalize (hash from stored bytes, validation), bad input."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
import wasmtime
from minio import Minio

from tests.controlplane.harness import HELLO_WASM, PARAMS, ControlPlane, Developer

NO_ALLOC = bytes(
    wasmtime.wat2wasm(
        '(module (memory (export "memory") 1)'
        '(func (export "handle") (param i32 i32) (result i64) i64.const 0))'
    )
)
WRONG_SIGNATURE = bytes(
    wasmtime.wat2wasm(
        """(module (memory (export "memory") 1)
      (func (export "edgefn_alloc") (param i32) (result i32) i32.const 0)
      (func (export "handle") (param i32) (result i32) i32.const 0))"""
    )
)


@pytest.fixture
def dev(cp: ControlPlane) -> Developer:
    return cp.developer("registrar")


def _s3(cp: ControlPlane) -> Minio:
    s3 = cp.config.s3
    return Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)


def test_register_upload_finalize_hashes_the_stored_bytes(cp: ControlPlane, dev: Developer) -> None:
    created = dev.create("reg", "hello")
    assert created.status_code == 201
    body = created.json()
    assert body["function_id"] == "reg.hello" and body["version"] == 1
    assert body["upload_url"].startswith(f"http://{cp.config.s3.endpoint}/{cp.config.bucket}/")
    # The CP hashes what the store holds, so a re-upload before finalize is what counts.
    assert httpx.put(body["upload_url"], content=b"\0asm junk").status_code == 200
    assert httpx.put(body["upload_url"], content=HELLO_WASM).status_code == 200
    final = dev.finalize("reg", "hello", 1)
    assert final.status_code == 200, final.text
    info = final.json()
    assert info["state"] == "ready"
    assert info["sha256"] == hashlib.sha256(HELLO_WASM).hexdigest()
    assert info["size_bytes"] == len(HELLO_WASM)
    assert (info["memory_pages"], info["max_execution_ms"], info["entrypoint"]) == (16, 50, "handle")
    again = dev.http.get("/v1/projects/reg/functions/hello/versions/1").json()
    assert again["sha256"] == info["sha256"] and again["state"] == "ready"


def test_old_versions_stay_in_the_store(cp: ControlPlane, dev: Developer) -> None:
    first = dev.publish("keep", "fn")
    second = dev.publish("keep", "fn", HELLO_WASM, memory_pages=8)
    assert (first, second) == (1, 2)
    s3 = _s3(cp)
    digest = hashlib.sha256(HELLO_WASM).hexdigest()
    for version in (first, second):
        data = s3.get_object(cp.config.bucket, f"keep.fn/{version}/{digest}.wasm")
        assert data.read() == HELLO_WASM
        data.close()
    versions = dev.http.get("/v1/projects/keep/functions").json()["functions"][0]["versions"]
    assert [(v["version"], v["state"]) for v in versions] == [(1, "ready"), (2, "ready")]


@pytest.mark.parametrize(
    ("wasm", "reason"),
    [
        (b"MZ this is not wasm at all", "not a WebAssembly binary"),
        (NO_ALLOC, "edgefn_alloc"),
        (WRONG_SIGNATURE, "handle"),
    ],
    ids=["not-wasm", "no-alloc", "wrong-signature"],
)
def test_invalid_modules_are_rejected_with_the_reason(dev: Developer, wasm: bytes, reason: str) -> None:
    version = dev.upload("rejects", "bad", wasm)["version"]
    final = dev.finalize("rejects", "bad", version)
    assert final.status_code == 422
    assert final.json()["error"] == "invalid_module"
    assert reason in final.json()["detail"]
    info = dev.http.get(f"/v1/projects/rejects/functions/bad/versions/{version}").json()
    assert info["state"] == "rejected" and reason in info["reason"]
    # A rejected version cannot be deployed.
    assert dev.deploy("rejects", "bad", "true", version).status_code == 409


def test_finalize_before_upload_is_409(dev: Developer) -> None:
    version = dev.create("early", "fn").json()["version"]
    final = dev.finalize("early", "fn", version)
    assert final.status_code == 409 and final.json()["error"] == "not_uploaded"
    info = dev.http.get(f"/v1/projects/early/functions/fn/versions/{version}").json()
    assert info["state"] == "pending" and info["sha256"] == ""
    assert dev.finalize("early", "fn", 99).status_code == 404


def test_oversized_upload_is_413_and_nothing_is_applied(cp: ControlPlane, dev: Developer) -> None:
    created = dev.upload("big", "fn", b"\0asm" + bytes(cp.config.max_upload_bytes))
    final = dev.finalize("big", "fn", created["version"])
    assert final.status_code == 413
    assert final.json()["error"] == "payload_too_large"
    assert str(cp.config.max_upload_bytes) in final.json()["detail"]
    info = dev.http.get(f"/v1/projects/big/functions/fn/versions/{created['version']}").json()
    assert (info["state"], info["sha256"]) == ("pending", "")
    # The same URL takes a module of the right size and the version becomes ready.
    assert httpx.put(created["upload_url"], content=HELLO_WASM).status_code == 200
    assert dev.finalize("big", "fn", created["version"]).json()["state"] == "ready"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"memory_pages": -1}, "memory_pages"),
        ({"memory_pages": 0}, "memory_pages"),
        ({"memory_pages": 40000}, "memory_pages"),
        ({"max_execution_ms": 0}, "max_execution_ms"),
        ({"entrypoint": None}, "entrypoint"),
        ({"entrypoint": ""}, "entrypoint"),
        ({"memory_pages": None}, "memory_pages"),
        ({"max_execution_ms": None}, "max_execution_ms"),
        ({"name": "Bad_Name"}, "name"),
        ({"min_hot_instances": 5, "max_hot_instances": 2}, "min_hot_instances"),
        ({"http_allow": ["not a host"]}, "http_allow"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_registration_is_refused_with_a_clear_detail(
    dev: Developer, change: dict[str, Any], field: str
) -> None:
    body = {"name": "fn", **PARAMS, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = dev.http.post("/v1/projects/invalid/functions", json=body)
    assert response.status_code in (400, 422), response.text
    assert field in str(response.json()["detail"])
    assert "Traceback" not in response.text
    listed = dev.http.get("/v1/projects/invalid/functions")
    assert listed.status_code in (200, 404)
    assert listed.status_code == 404 or listed.json()["functions"] == []
