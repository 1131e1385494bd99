"""A finalized version's bytes never change: on S3 (SeaweedFS, PostgreSQL) and on the CP's own folder
(SQLite), whatever its upload URL is used for afterwards, however uploads and finalizes race.

What runners download is checked the way a runner gets it: the artifact URL and SHA-256 of the
desired state a node receives in its heartbeat reply.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from minio import Minio

from edgehost.artifacts.signing import UrlSigner
from edgehost.protocol import FunctionDeployment
from edgehost.runner.fetcher import FetchError, RetryPolicy, fetch_artifact
from tests.controlplane.conftest import NODE
from tests.controlplane.harness import (
    HELLO_WASM,
    ControlPlane,
    Developer,
    NodeClient,
    variant,
)

LABELS = {"suite": "immutable"}


@pytest.fixture
def dev(any_cp: ControlPlane) -> Developer:
    return any_cp.developer("immutable")


@pytest.fixture
def node(any_cp: ControlPlane) -> Iterator[NodeClient]:
    client = any_cp.node_client(NODE, labels=LABELS)
    yield client
    client.close()


def desired(node: NodeClient, function_id: str) -> FunctionDeployment:
    (fn,) = [f for f in node.heartbeat().desired.functions if f.function_id == function_id]
    return fn


def what_runners_get(dev: Developer, node: NodeClient, project: str, name: str, version: int) -> bytes:
    """Deploys `version` to this suite's node (unless it runs there already) and downloads what its
    desired state points at, after checking the state's SHA-256 against the version's record."""
    deployed = dev.deploy(project, name, "suite == 'immutable'", version)
    assert deployed.status_code in (200, 201) or deployed.json()["error"] == "already_active", deployed.text
    fn = desired(node, f"{project}.{name}")
    recorded = dev.http.get(f"/v1/projects/{project}/functions/{name}/versions/{version}").json()
    assert (fn.version, fn.sha256) == (version, recorded["sha256"])
    response = httpx.get(fn.artifact_url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def is_local(cp: ControlPlane) -> bool:
    return cp.config.backend == "local"


def test_an_upload_url_cannot_change_a_finalized_version(
    any_cp: ControlPlane, dev: Developer, node: NodeClient
) -> None:
    created = dev.upload("imm-late", "fn", HELLO_WASM)
    assert dev.finalize("imm-late", "fn", 1).json()["state"] == "ready"
    late = httpx.put(created["upload_url"], content=variant("late"), timeout=30)
    if is_local(any_cp):  # the CP serves the URL itself and refuses
        assert late.status_code == 409, late.text
        assert late.json()["error"] == "version_immutable"
        assert "imm-late.fn v1 is finalized" in late.json()["detail"]
    # S3 accepts the PUT into the upload key, which nothing reads any more.
    again = dev.finalize("imm-late", "fn", 1)
    assert again.status_code == 200
    assert again.json()["sha256"] == hashlib.sha256(HELLO_WASM).hexdigest()
    assert what_runners_get(dev, node, "imm-late", "fn", 1) == HELLO_WASM


def test_finalizes_and_uploads_racing_leave_the_recorded_bytes(dev: Developer, node: NodeClient) -> None:
    """PUTs keep landing while three finalizes run at once: whichever bytes the version ends up
    with, the record's SHA-256 is theirs and runners download exactly them."""
    created = dev.upload("imm-race", "fn", variant("0"))
    variants = {hashlib.sha256(v).hexdigest(): v for v in (variant(str(i)) for i in range(40))}
    stop = threading.Event()

    def upload() -> None:
        for data in variants.values():
            if stop.is_set():
                return
            httpx.put(created["upload_url"], content=data, timeout=30)

    uploader = threading.Thread(target=upload)
    answers: list[httpx.Response] = []
    finalizers = [
        threading.Thread(target=lambda: answers.append(dev.finalize("imm-race", "fn", 1))) for _ in range(3)
    ]
    uploader.start()
    for thread in finalizers:
        thread.start()
    for thread in finalizers:
        thread.join(60)
    stop.set()
    uploader.join(60)
    recorded = {a.json()["sha256"] for a in answers if a.status_code == 200}
    assert len(answers) == 3 and len(recorded) == 1, [a.text for a in answers]
    (digest,) = recorded
    assert digest in variants or digest == hashlib.sha256(variant("0")).hexdigest()
    assert hashlib.sha256(what_runners_get(dev, node, "imm-race", "fn", 1)).hexdigest() == digest
    # Later uploads change nothing either.
    httpx.put(created["upload_url"], content=variant("after"), timeout=30)
    assert dev.finalize("imm-race", "fn", 1).json()["sha256"] == digest
    assert hashlib.sha256(what_runners_get(dev, node, "imm-race", "fn", 1)).hexdigest() == digest


def test_an_upload_url_reaches_its_own_version_only(
    any_cp: ControlPlane, dev: Developer, node: NodeClient
) -> None:
    first = dev.upload("imm-other", "fn", HELLO_WASM)
    assert dev.finalize("imm-other", "fn", 1).status_code == 200
    second = dev.create("imm-other", "fn").json()
    assert second["version"] == 2
    # v1's URL, still within its lifetime, does not write v2; nor does it with v2's key put in.
    httpx.put(first["upload_url"], content=variant("via-v1"), timeout=30)
    forged = first["upload_url"].replace("/imm-other.fn/1.wasm", "/imm-other.fn/2.wasm")
    assert forged != first["upload_url"]
    assert httpx.put(forged, content=variant("forged"), timeout=30).status_code == 403
    assert dev.finalize("imm-other", "fn", 2).json()["error"] == "not_uploaded"
    assert httpx.put(second["upload_url"], content=variant("v2"), timeout=30).status_code == 200
    assert dev.finalize("imm-other", "fn", 2).json()["sha256"] == hashlib.sha256(variant("v2")).hexdigest()
    assert what_runners_get(dev, node, "imm-other", "fn", 2) == variant("v2")
    assert what_runners_get(dev, node, "imm-other", "fn", 1) == HELLO_WASM


def test_no_signed_url_writes_a_finalized_artifact(
    any_cp: ControlPlane, dev: Developer, node: NodeClient
) -> None:
    """The artifact key runners read: its download URL does not take a PUT, and on the local store
    even a PUT the CP signed for that key is refused (only upload keys are writable)."""
    dev.upload("imm-key", "fn", HELLO_WASM)
    assert dev.finalize("imm-key", "fn", 1).status_code == 200
    assert what_runners_get(dev, node, "imm-key", "fn", 1) == HELLO_WASM
    fn = desired(node, "imm-key.fn")
    assert httpx.put(fn.artifact_url, content=variant("x"), timeout=30).status_code == 403
    if is_local(any_cp):
        key = urlsplit(fn.artifact_url).path.removeprefix("/v1/artifacts/")
        secret = (any_cp.config.state_dir / "url-signing.secret").read_bytes()
        signed = UrlSigner(secret, any_cp.api).sign("PUT", key, ttl_s=60)
        refused = httpx.put(signed, content=variant("x"), timeout=30)
        assert refused.status_code == 403 and "not an upload key" in refused.json()["detail"]
    assert httpx.get(fn.artifact_url, timeout=30).content == HELLO_WASM


async def test_an_object_replaced_in_the_store_is_never_run(
    any_cp: ControlPlane, dev: Developer, node: NodeClient, tmp_path: Path
) -> None:
    """Someone with the store's own credentials rewrites the object: runners refuse it (integrity)."""
    dev.upload("imm-direct", "fn", HELLO_WASM)
    assert dev.finalize("imm-direct", "fn", 1).status_code == 200
    assert what_runners_get(dev, node, "imm-direct", "fn", 1) == HELLO_WASM
    fn = desired(node, "imm-direct.fn")
    key = f"imm-direct.fn/1/{fn.sha256}.wasm"
    if is_local(any_cp):
        (any_cp.config.state_dir / "artifacts" / key).write_bytes(variant("tampered"))
    else:
        s3 = any_cp.config.s3
        client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
        tampered = variant("tampered")
        client.put_object(any_cp.config.bucket, key, io.BytesIO(tampered), len(tampered))
    async with httpx.AsyncClient() as http:
        with pytest.raises(FetchError) as info:
            await fetch_artifact(
                fn.artifact_url,
                expected_sha256=fn.sha256,
                dest_dir=tmp_path,
                client=http,
                policy=RetryPolicy(attempts=1),
            )
    assert info.value.code == "integrity"
    assert list(tmp_path.glob("fetch-*")) == []
