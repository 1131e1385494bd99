"""The shapes plugins provide and consume: what a route table, pool, cache, store or admission must offer.

The core talks to plugins only through these, so a third party can replace any built-in
(a geo-aware router, a peer-to-peer cache) without the core knowing its name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from edgehost.protocol import RouteSpec

if TYPE_CHECKING:
    from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse

__all__ = [
    "Admission",
    "ArtifactCache",
    "ArtifactStore",
    "InstancePool",
    "Invocation",
    "PoolFactory",
    "ProcessKind",
    "Rejection",
    "RouteLookup",
    "RouteMatch",
    "RouteSpec",
]


# Which of the runner's processes this is (docs/runner.md): `single` (sync agent and ingress in one
# process), `agent` (syncs, fetches, caches and compiles for the workers) or `worker` (an ingress
# worker serving what the agent published, from the cache the agent owns).
ProcessKind = Literal["single", "agent", "worker"]


class RouteMatch(Protocol):
    """A matched route: which function, and the `{name}` segments it captured."""

    @property
    def route(self) -> Any: ...

    @property
    def params(self) -> tuple[tuple[str, str], ...]: ...


class RouteLookup(Protocol):
    def lookup(self, host: str, method: str, path: str) -> RouteMatch | tuple[str, ...] | None:
        """A match; or the allowed methods when only the method differs (405); or None (404).

        `host` is the Host header as sent; `path` the raw request path without the query, its
        bytes as Latin-1 characters, to be split into segments before any percent-decoding.
        """
        ...


class InstancePool(Protocol):
    """Hot instances of one function version."""

    spec: FunctionSpec

    def invoke(
        self, request: GuestRequest | bytes, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        """Runs one request (a `GuestRequest`, or one in the wire format) on a pooled (or new)
        instance; raises `InvokeError`. The response is decoded by the runtime's codec, which
        already refused what HTTP forbids a guest to say (`bad_response`, docs/abi.md).
        `deadline` (`time.monotonic()` seconds) is when the request's `max_execution_ms` runs
        out, if it started before the call (the wait for a guest thread); without it the limit
        starts with the call."""
        ...

    def warm(self) -> None:
        """Creates the function's `min_hot_instances` before it takes traffic."""
        ...

    def close(self) -> None:
        """Destroys its instances; called once, when its `PoolFactory` discards it (the version was
        retired). A call still running finishes, and its instance is destroyed then."""
        ...

    @property
    def size(self) -> int: ...


class PoolFactory(Protocol):
    """Makes and retires the pools of a node; owns node-wide concerns such as memory pressure.
    Reports pool sizes through `edgehost_pool_size_changed`."""

    def __call__(
        self, spec: FunctionSpec, wasm: bytes, compiled_path: Path | None, min_hot: int, max_hot: int
    ) -> InstancePool: ...

    def discard(self, pool: InstancePool) -> None:
        """Forgets a pool it made and closes it."""
        ...


class ArtifactCache(Protocol):
    def path_for(self, function_id: str, version: int) -> Path: ...

    def get(self, function_id: str, version: int, sha256: str) -> bytes | None: ...

    def put(self, function_id: str, version: int, sha256: str, source_path: Path) -> Path: ...

    def remove(self, function_id: str, version: int) -> None: ...

    def pin(self, function_id: str, version: int) -> None:
        """Keeps a deployed version out of eviction while other entries can go instead."""
        ...

    def unpin(self, function_id: str, version: int) -> None: ...

    @property
    def tmp_dir(self) -> Path:
        """Where downloads land before `put`, on the cache's filesystem so the final move is atomic."""
        ...


class ArtifactStore(Protocol):
    """Where the CP keeps uploaded modules; runners fetch through the URLs it signs."""

    async def upload_url(self, key: str, *, ttl_s: int) -> str: ...

    async def download_url(self, key: str, *, ttl_s: int) -> str: ...

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        """The object's bytes, or None if nothing was uploaded yet."""
        ...

    async def write(self, key: str, data: bytes) -> None: ...

    async def delete(self, key: str) -> None:
        """Removes the object; nothing happens if it does not exist."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]: ...


@dataclass(slots=True)
class Rejection:
    """An answer given instead of running the guest (429, 413, ...)."""

    status: int
    error_code: str
    message: str
    headers: list[tuple[str, str]] = field(default_factory=list)


class Admission(Protocol):
    def admit(self, invocation: Invocation) -> Rejection | None: ...

    def release(self, invocation: Invocation) -> None:
        """Called exactly once after every `admit`, whether it admitted, refused or raised."""
        ...


@dataclass(slots=True)
class Invocation:
    """One request through the ingress, as hooks see it."""

    request_id: str
    node_id: str
    method: str
    host: str
    path: str
    start_timestamp: float
    tenant: str = ""
    function_id: str = ""
    version: int = 0
    status: int = 0
    error_code: str | None = None
    error_message: str | None = None
    end_timestamp: float = 0.0
    cpu_seconds: float = 0.0
    logs: Sequence[Any] = ()
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    admitted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_status(self) -> str:
        return "ok" if self.error_code is None else "error"
