"""Upload and download of local-store artifacts through the URLs the CP signed (no bearer token).

Uploads go through the registry, which refuses them once the version is finalized (409).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from edgehost.artifacts.local import LocalArtifactStore
from edgehost.errors import ApiError


def _check(state: State, method: str, key: str, expires: int, signature: str) -> LocalArtifactStore:
    """The local store, if the control plane serves artifacts itself (`artifacts.backend = "local"`:
    S3 or a plugin's store hand out their own URLs), once the URL's signature holds."""
    store = state.artifact_store
    if not isinstance(store, LocalArtifactStore):
        raise ApiError(404, "not_found", "this control plane does not serve artifacts itself")
    if not store.signer.verify(method, key, expires, signature):
        raise ApiError(403, "bad_signature", "the artifact URL is invalid or has expired")
    return store


@put("/artifacts/{key:path}", status_code=200, request_max_body_size=None)
async def upload(
    key: FromPath[str],
    expires: FromQuery[int],
    signature: FromQuery[str],
    request: Request[Any, Any, Any],
    state: State,
) -> dict[str, Any]:
    key = key.lstrip("/")
    _check(state, "PUT", key, expires, signature)
    limit = state.ctx.settings.api.max_upload_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "payload_too_large", f"artifacts are limited to {limit} bytes")
    await state.registry.accept_upload(key, bytes(body))
    return {"key": key, "size": len(body)}


@get("/artifacts/{key:path}")
async def download(
    key: FromPath[str], expires: FromQuery[int], signature: FromQuery[str], state: State
) -> Response[Any]:
    key = key.lstrip("/")
    store = _check(state, "GET", key, expires, signature)
    if not store.exists(key):
        raise ApiError(404, "not_found", f"artifact {key!r} does not exist")
    return Stream(store.stream(key), media_type="application/wasm")


def artifact_router() -> Router:
    return Router(path="/v1", route_handlers=[upload, download], tags=["artifacts"], include_in_schema=False)
