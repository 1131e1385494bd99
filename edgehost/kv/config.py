"""The `[kv]` settings table: which backend holds the project KV stores, and their limits
(docs/kv.md, docs/settings.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from edgehost.settings_types import PositiveInt, SettingsSection


class Kv(SettingsSection, frozen=True):
    """The project KV stores (docs/kv.md): which backend holds them, and their limits."""

    # `sqlite` (edgefn dev: a file in the state folder) or `redis` (shared by every runner), or a
    # backend a plugin adds through `edgehost_kv_backends`; checked when the store is first built.
    backend: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]+$", description="a backend name")] = "sqlite"
    sqlite_path: str = ""  # empty means {state_dir}/kv.db
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_value_bytes: PositiveInt = 1048576
    max_project_bytes: PositiveInt = 104857600
    # The longest one store call waits (less when the invocation's deadline is nearer).
    timeout_s: Annotated[
        float, msgspec.Meta(gt=0, le=60, description="a number of seconds above 0 and at most 60")
    ] = 0.5
