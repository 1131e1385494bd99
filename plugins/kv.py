"""Built-in plugin: the project KV stores (docs/kv.md).

The `sqlite` and `redis` backends of `kv.backend`, the `edgefn.kv_get`/`kv_set`/`kv_delete` host
functions, and the control plane's `/v1/projects/{project}/kv/...` routes behind `edgefn kv`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.kv import KvLimits, KvStore
from edgehost.kv.backends import Factory, check_backend, limits_of, store_of
from edgehost.runtime import HostFunction
from edgehost.settings import Settings


def _sqlite(settings: Settings, limits: KvLimits) -> KvStore:
    from edgehost.kv.sqlite_store import SqliteKvStore

    path = settings.kv.sqlite_path
    return SqliteKvStore(Path(path) if path else settings.effective_state_dir / "kv.db", limits)


def _redis(settings: Settings, limits: KvLimits) -> KvStore:
    from edgehost.kv.redis_store import RedisKvStore

    return RedisKvStore(settings.kv.redis_url, limits)


@hookimpl
def edgehost_kv_backends() -> dict[str, Factory]:
    return {"sqlite": _sqlite, "redis": _redis}


@hookimpl
def edgehost_startup_problems(ctx: AppContext) -> list[str]:
    check_backend(ctx.settings, ctx.hook)  # raises SettingsError: exit 2 naming kv.backend
    return []


@hookimpl
def edgehost_host_functions(ctx: AppContext) -> list[HostFunction]:
    from edgehost.kv.hostcalls import KvCalls

    return KvCalls(lambda: store_of(ctx), limits_of(ctx.settings)).host_functions()


@hookimpl
def edgehost_route_handlers(listener: str, ctx: AppContext) -> list[Any]:
    if listener != "api":
        return []
    from edgehost.controlplane.kv_api import kv_router

    return [kv_router()]
