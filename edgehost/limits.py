"""A function's limits and grants, defined once for the project file, the developer API, the node protocol and
the runtime, so a bound checked in one place is the bound enforced in the others.

Every registration names `memory_pages` and `max_execution_ms` (requirement 1.3: no silent limits),
so they have no default here; the project file fills in `DEFAULT_MEMORY_PAGES` and
`DEFAULT_MAX_EXECUTION_MS` when a function omits them. The bounds are checked when msgspec decodes
(an API body: 422) and published in the OpenAPI document; constructing a struct in code checks nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from edgehost.kv import STORE_PATTERN

MAX_MEMORY_PAGES = 32768  # 2 GiB, half of wasm32's 4 GiB address space
MAX_EXECUTION_MS = 300_000
MAX_MIN_HOT_INSTANCES = 1024
MAX_MAX_HOT_INSTANCES = 4096
DEFAULT_MEMORY_PAGES = 16  # 1 MiB
DEFAULT_MAX_EXECUTION_MS = 50

Pages = Annotated[int, msgspec.Meta(ge=1, le=MAX_MEMORY_PAGES)]
Millis = Annotated[int, msgspec.Meta(ge=1, le=MAX_EXECUTION_MS)]
MinHot = Annotated[int, msgspec.Meta(ge=0, le=MAX_MIN_HOT_INSTANCES)]
MaxHot = Annotated[int, msgspec.Meta(ge=1, le=MAX_MAX_HOT_INSTANCES)]
# A host name, an IP literal or "*.domain" the guest may fetch from (docs/runtime.md, egress).
AllowEntry = Annotated[str, msgspec.Meta(pattern=r"^(\*\.)?[A-Za-z0-9.:\[\]-]{1,253}$")]
# The guest's environment: POSIX-style names (as secret names), values without NUL (environ
# entries end in NUL), bounded so a desired state stays small.
ENV_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
MAX_ENV_VARS = 256
MAX_ENV_VALUE = 32768  # characters
EnvName = Annotated[str, msgspec.Meta(pattern=ENV_PATTERN, max_length=255)]
EnvValue = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", max_length=MAX_ENV_VALUE)]
StoreName = Annotated[str, msgspec.Meta(pattern=STORE_PATTERN)]
MAX_KV_STORES = 64
MAX_SECRETS = 64


class FunctionLimits(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Memory, time, hot-pool size and reuse, egress, KV stores, environment and secret names of one
    function version; a base of every struct that carries them (subclasses keep these fields flat, so their
    wire form is unchanged)."""

    memory_pages: Pages  # linear memory, in 64 KiB pages
    max_execution_ms: Millis  # wall-clock limit of one request, instantiation included
    min_hot_instances: MinHot = 1
    max_hot_instances: MaxHot = 16
    # Each instance serves one request and is destroyed (docs/runtime.md, "Instances that serve once"):
    # for guests that cannot answer twice, or that must not share state between requests.
    fresh_instance: bool = False
    http_allow: tuple[AllowEntry, ...] = ()
    kv: Annotated[tuple[StoreName, ...], msgspec.Meta(max_length=MAX_KV_STORES)] = ()  # stores it may use
    env: Annotated[dict[EnvName, EnvValue], msgspec.Meta(max_length=MAX_ENV_VARS)] = {}  # WASI environ
    # Names of secrets (docs/secrets.md) also in the environ; their values never travel with limits.
    secrets: Annotated[tuple[EnvName, ...], msgspec.Meta(max_length=MAX_SECRETS)] = ()


def limits_of(carrier: FunctionLimits) -> dict[str, Any]:
    """The limit fields of any struct that carries them, as keyword arguments for another one."""
    return {name: getattr(carrier, name) for name in FunctionLimits.__struct_fields__}
