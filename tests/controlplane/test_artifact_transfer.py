"""`/v1/artifacts/...` is served only by a control plane whose store is its own folder; any other
store (S3, a plugin's) hands out its own URLs, so the CP answers 404 rather than guess at it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import pluggy
from litestar.testing import TestClient

from edgehost import core_plugin, hookspecs
from edgehost.app import build_app
from edgehost.artifacts.local import LocalArtifactStore
from edgehost.artifacts.signing import UrlSigner
from edgehost.context import AppContext
from edgehost.settings import load_settings


class ElsewhereStore:
    """Looks like the local store (it even has a `signer`), but is not it."""

    signer = UrlSigner(b"k" * 32, "http://cp")


def serve(store: object) -> TestClient:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(core_plugin, name="core")  # the node listener's routes, and no built-in
    ctx = AppContext(settings=load_settings("dev"), pm=pm, mode="dev")
    ctx.services.add(artifact_store=store)
    return TestClient(build_app("node", ctx).litestar)


def test_only_the_local_store_is_served(tmp_path: Path) -> None:
    signer = UrlSigner(b"k" * 32, "http://cp")
    local = LocalArtifactStore(tmp_path, signer)
    asyncio.run(local.write("p/f/1.wasm", b"\0asm"))
    url = urlsplit(signer.sign("GET", "p/f/1.wasm", ttl_s=60))
    target = f"{url.path}?{url.query}"
    with serve(local) as client:
        assert client.get(target).content == b"\0asm"
        assert client.get(target.replace("signature=", "signature=0")).status_code == 403
    with serve(ElsewhereStore()) as client:
        answer = client.get(target)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
