"""The registry's races, each forced at its exact point: a real store (the local folder, SeaweedFS S3)
and a real database (SQLite, PostgreSQL), with the competing request run from inside a store call.

Uploads are what each backend does with a PUT: the CP's own handler (`accept_upload`) for the local
folder, a plain write of the upload key for S3's presigned URL, which the CP never sees.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgehost.artifacts.local import LocalArtifactStore
from edgehost.artifacts.s3 import S3ArtifactStore
from edgehost.artifacts.signing import UrlSigner
from edgehost.contracts import ArtifactStore
from edgehost.controlplane.registry import Registry, artifact_key, upload_key
from edgehost.controlplane.schemas import FunctionCreate
from edgehost.db.engine import close_database, open_database
from edgehost.db.tables import Project
from edgehost.errors import ApiError
from edgehost.project_queue import ProjectQueue
from edgehost.runtime import builtin_host_functions
from tests.controlplane.harness import HELLO_WASM, variant
from tests.services import PostgresServer, S3Server

FID = "race.fn"
Hook = Callable[[], Awaitable[None]]


class Interleaved:
    """A real store whose next read or write of `key` first runs `hook`: the competing request."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.hooks: dict[tuple[str, str], Hook] = {}

    async def _run(self, op: str, key: str) -> None:
        hook = self.hooks.pop((op, key), None)
        if hook is not None:
            await hook()

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        data = await self.store.read(key, max_bytes=max_bytes)
        await self._run("read", key)  # after the read: the finalize already holds its bytes
        return data

    async def write(self, key: str, data: bytes) -> None:
        await self._run("write", key)
        await self.store.write(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[None]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'edgefn.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_database()
    engine = await open_database(url)
    try:
        yield
    finally:
        await close_database(engine)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, ArtifactStore]:
    if request.param == "local":
        return "local", LocalArtifactStore(tmp_path / "artifacts", UrlSigner(b"k" * 32, "http://127.0.0.1:9"))
    s3: S3Server = request.getfixturevalue("s3_server")
    store = S3ArtifactStore(
        endpoint=s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        bucket=f"race-{secrets.token_hex(4)}",
        secure=False,
        region=s3.region,
    )
    return "s3", store


class Setup:
    def __init__(self, kind: str, store: ArtifactStore) -> None:
        self.kind = kind
        self.store = Interleaved(store)
        self.registry = Registry(
            self.store,
            host_functions=builtin_host_functions(),
            url_ttl_s=60,
            max_upload_bytes=1 << 20,
            checks=ProjectQueue(2, "edgefn-check"),
        )
        self.project: dict[str, Any] = {}

    async def start(self) -> None:
        project = Project(name="race")
        await project.save()
        self.project = {"id": project.id, "name": "race"}
        spec = FunctionCreate(name="fn", entrypoint="handle", memory_pages=16, max_execution_ms=50)
        await self.registry.create_version(self.project, spec)

    async def put(self, data: bytes) -> None:
        """A PUT through the version's upload URL, as the backend serves it."""
        if self.kind == "local":
            await self.registry.accept_upload(upload_key(FID, 1), data)
        else:
            await self.store.store.write(upload_key(FID, 1), data)

    async def finalize(self) -> dict[str, Any]:
        info = await self.registry.finalize(self.project, "fn", 1)
        return {"state": info.state, "sha256": info.sha256}

    async def stored(self, key: str) -> bytes | None:
        return await self.store.store.read(key, max_bytes=1 << 20)


@pytest.fixture
async def setup(database: None, backend: tuple[str, ArtifactStore]) -> Setup:
    prepared = Setup(*backend)
    await prepared.start()
    return prepared


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_an_upload_after_finalize_hashed_does_not_reach_the_artifact(setup: Setup) -> None:
    await setup.put(HELLO_WASM)
    setup.store.hooks["read", upload_key(FID, 1)] = lambda: setup.put(variant("late"))
    assert await setup.finalize() == {"state": "ready", "sha256": sha(HELLO_WASM)}
    assert await setup.stored(artifact_key(FID, 1, sha(HELLO_WASM))) == HELLO_WASM
    assert await setup.stored(upload_key(FID, 1)) is None  # discarded: nothing reads it again


@pytest.mark.parametrize("backend", ["local"], indirect=True)  # an S3 PUT never reaches the CP
async def test_an_upload_written_while_finalize_commits_is_refused(setup: Setup) -> None:
    await setup.put(HELLO_WASM)

    async def finalize_first() -> None:
        await setup.finalize()

    setup.store.hooks["write", upload_key(FID, 1)] = finalize_first
    with pytest.raises(ApiError) as info:
        await setup.put(variant("in-flight"))
    assert (info.value.status, info.value.error) == (409, "version_immutable")
    assert await setup.stored(upload_key(FID, 1)) is None
    assert await setup.stored(artifact_key(FID, 1, sha(HELLO_WASM))) == HELLO_WASM
    with pytest.raises(ApiError) as again:
        await setup.put(variant("after"))
    assert again.value.status == 409


async def test_of_two_racing_finalizes_one_records_and_both_answer_it(setup: Setup) -> None:
    """Finalize A holds HELLO_WASM when finalize B, after another upload, records other bytes: A's
    conditional update finds the version ready, A answers B's record and removes its own object."""
    await setup.put(HELLO_WASM)
    other = variant("b")

    async def upload_and_finalize() -> None:
        await setup.put(other)
        assert await setup.finalize() == {"state": "ready", "sha256": sha(other)}

    setup.store.hooks["read", upload_key(FID, 1)] = upload_and_finalize
    assert await setup.finalize() == {"state": "ready", "sha256": sha(other)}
    assert await setup.stored(artifact_key(FID, 1, sha(other))) == other
    assert await setup.stored(artifact_key(FID, 1, sha(HELLO_WASM))) is None


async def test_a_rejection_racing_a_ready_never_overwrites_it(setup: Setup) -> None:
    await setup.put(b"\0asm not a module")

    async def fix_and_finalize() -> None:
        await setup.put(HELLO_WASM)
        assert (await setup.finalize())["state"] == "ready"

    setup.store.hooks["read", upload_key(FID, 1)] = fix_and_finalize
    with pytest.raises(ApiError) as info:
        await setup.finalize()  # it read the junk: refused, but the version stays ready
    assert info.value.status == 422
    assert await setup.finalize() == {"state": "ready", "sha256": sha(HELLO_WASM)}
