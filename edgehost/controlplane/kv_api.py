"""Operator access to a project's KV stores (`edgefn kv`): `/v1/projects/{project}/kv/{store}/...`.

Reading needs a role that may read the project, writing one that may change it (controlplane/access.py).
A key travels as the `key` query parameter (any UTF-8 text up to 512 bytes, `/` and the empty key
included); a value as the raw request or response body (`application/octet-stream`). The store is
called on a worker thread, each call bounded by `kv.timeout_s`.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from edgehost.controlplane import access
from edgehost.controlplane.access import READ, WRITE
from edgehost.controlplane.api import ProjectName, provide_caller
from edgehost.controlplane.openapi import refusals
from edgehost.errors import ApiError
from edgehost.kv import MAX_KEY_BYTES, STORE_PATTERN, KvError, KvQuotaExceeded, KvStore, KvTooLarge
from edgehost.kv.backends import store_of

StoreName = Annotated[
    str, Parameter(pattern=STORE_PATTERN, description="A store name, as in a function's `kv` list.")
]
Key = Annotated[
    str, Parameter(max_length=MAX_KEY_BYTES, description=f"The key: UTF-8, at most {MAX_KEY_BYTES} bytes.")
]
Prefix = Annotated[str, Parameter(max_length=MAX_KEY_BYTES, description="Only keys starting with this.")]
Limit = Annotated[int, Parameter(ge=1, le=10000, description="At most this many keys, in byte order.")]
OCTETS = "application/octet-stream"


def _key(key: str) -> bytes:
    raw = key.encode()
    if len(raw) > MAX_KEY_BYTES:
        raise ApiError(422, "key_too_large", f"key is {len(raw)} bytes; at most {MAX_KEY_BYTES} are allowed")
    return raw


async def _call(state: State, work: Any, *args: Any) -> Any:
    """Runs a store method off the event loop; store failures become 413, 422, 503 or 507."""
    store: KvStore = store_of(state.ctx)
    try:
        return await asyncio.to_thread(partial(getattr(store, work), *args, store.limits.timeout_s))
    except KvTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from None
    except KvQuotaExceeded as exc:
        raise ApiError(507, "kv_quota_exceeded", str(exc)) from None
    except KvError as exc:
        raise ApiError(503, "kv_unavailable", f"the KV store did not answer: {exc}") from None


@get(
    "/projects/{project:str}/kv/{store:str}/keys",
    tags=["kv"],
    summary="List the keys of a project's KV store",
    responses=refusals(404, 503),
)
async def kv_keys(
    project: ProjectName,
    store: StoreName,
    caller: NamedDependency[str],
    state: State,
    prefix: Prefix = "",
    limit: Limit = 1000,
) -> dict[str, Any]:
    await access.project_for(caller, project, READ)
    keys = await _call(state, "keys", project, store, prefix.encode(), limit)
    return {"store": store, "keys": [k.decode("utf-8", "replace") for k in keys]}


@get(
    "/projects/{project:str}/kv/{store:str}/value",
    tags=["kv"],
    summary="Read one value of a project's KV store",
    media_type=OCTETS,
    responses=refusals(404, 422, 503),
)
async def kv_get(
    project: ProjectName, store: StoreName, key: Key, caller: NamedDependency[str], state: State
) -> Response[bytes]:
    await access.project_for(caller, project, READ)
    value = await _call(state, "get", project, store, _key(key))
    if value is None:
        raise ApiError(404, "not_found", f"store {store!r} of project {project!r} has no key {key!r}")
    return Response(value, media_type=OCTETS)


@put(
    "/projects/{project:str}/kv/{store:str}/value",
    status_code=200,
    tags=["kv"],
    summary="Store one value in a project's KV store (the raw request body)",
    responses=refusals(404, 413, 422, 503, 507),
)
async def kv_put(
    project: ProjectName,
    store: StoreName,
    key: Key,
    request: Request[Any, Any, Any],
    caller: NamedDependency[str],
    state: State,
) -> dict[str, Any]:
    await access.project_for(caller, project, WRITE)
    raw = _key(key)
    value = await request.body()
    limit = state.ctx.settings.kv.max_value_bytes
    if len(value) > limit:
        raise ApiError(
            413, "payload_too_large", f"the value is {len(value)} bytes; kv.max_value_bytes allows {limit}"
        )
    await _call(state, "set", project, store, raw, value)
    return {"store": store, "key": key, "bytes": len(value)}


@delete(
    "/projects/{project:str}/kv/{store:str}/value",
    status_code=200,
    tags=["kv"],
    summary="Delete one key of a project's KV store (no error when it is absent)",
    responses=refusals(404, 422, 503),
)
async def kv_delete(
    project: ProjectName, store: StoreName, key: Key, caller: NamedDependency[str], state: State
) -> dict[str, Any]:
    await access.project_for(caller, project, WRITE)
    await _call(state, "delete", project, store, _key(key))
    return {"store": store, "key": key, "deleted": True}


def kv_router() -> Router:
    return Router(
        path="/v1",
        route_handlers=[kv_keys, kv_get, kv_put, kv_delete],
        dependencies={"caller": Provide(provide_caller)},
        security=[{"developer": []}],
    )
