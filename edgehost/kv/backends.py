"""The one KV store of a process, built on first use from the backend `kv.backend` names.

Backends come from the `edgehost_kv_backends` hook (the `kv` plugin gives `sqlite` and `redis`);
the store is built lazily, so commands and roles that never touch KV never open a file or a
connection, and once per process, shared by the host calls and the CP's KV API (`edgefn dev`
runs both in one process, so both see the same store).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgehost.kv import KvLimits, KvStore
from edgehost.settings import Settings, SettingsError

Factory = Callable[[Settings, KvLimits], KvStore]
_lock = threading.Lock()


@dataclass(frozen=True)
class KvService:
    """The process's one store, as a service (`KvStore` is a Protocol: services are found by class)."""

    store: KvStore


def limits_of(settings: Settings) -> KvLimits:
    kv = settings.kv
    return KvLimits(
        max_value_bytes=kv.max_value_bytes, max_project_bytes=kv.max_project_bytes, timeout_s=kv.timeout_s
    )


def backends(hook: Any) -> dict[str, Factory]:
    found: dict[str, Factory] = {}
    for group in hook.edgehost_kv_backends():
        for name, factory in (group or {}).items():
            found.setdefault(name, factory)
    return found


def check_backend(settings: Settings, hook: Any) -> None:
    """Raises SettingsError naming `kv.backend` when no plugin provides that backend."""
    known: Mapping[str, Factory] = backends(hook)
    if settings.kv.backend not in known:
        names = ", ".join(sorted(known)) or "none (the kv plugin is disabled)"
        raise SettingsError(f"kv.backend must be one of {names}, got {settings.kv.backend!r}")


def store_of(ctx: Any) -> KvStore:
    """The process's store (an AppContext's `kv_store` service), built on the first call."""
    service: KvService | None = ctx.services.get(KvService)
    if service is None:
        with _lock:
            service = ctx.services.get(KvService)
            if service is None:
                check_backend(ctx.settings, ctx.hook)
                factory = backends(ctx.hook)[ctx.settings.kv.backend]
                service = KvService(factory(ctx.settings, limits_of(ctx.settings)))
                ctx.services.add(kv_store=service)
    return service.store
