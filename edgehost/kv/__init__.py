"""A project's key-value stores: the contract every backend keeps, its limits and its errors.

A store belongs to a project (`kv = ["default"]` in a function's table names the stores the
function may use); keys are bytes up to MAX_KEY_BYTES, values bytes up to `kv.max_value_bytes`,
and a project's keys and values together up to `kv.max_project_bytes` (docs/kv.md).

Backends are synchronous: the guest's host call blocks its guest thread anyway, and the CP calls
them from a worker thread. Every call takes `timeout`, the seconds it may wait (the smaller of
`kv.timeout_s` and what is left of the invocation's deadline), and raises `KvUnavailable` or
`KvTimeout` rather than wait longer. A third party adds a backend through the
`edgehost_kv_backends` hook (edgehost/hookspecs.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "MAX_KEY_BYTES",
    "STORE_NAME",
    "STORE_NAME_RULE",
    "STORE_PATTERN",
    "KvError",
    "KvLimits",
    "KvQuotaExceeded",
    "KvStore",
    "KvTimeout",
    "KvTooLarge",
    "KvUnavailable",
    "check_entry",
]

MAX_KEY_BYTES = 512
# The project file's rule for `kv` store names (also the API's path pattern).
STORE_PATTERN = r"^[a-z0-9-]{1,63}$"
STORE_NAME = re.compile(STORE_PATTERN)
STORE_NAME_RULE = "1 to 63 characters of a-z, 0-9 and '-'"


class KvError(Exception):
    """A store call that did not happen; `code` is what the guest's host call returns (docs/abi.md)."""

    code = -3


class KvUnavailable(KvError):
    """The backend could not be reached or failed: the guest gets -3."""

    code = -3


class KvTimeout(KvError):
    """The backend did not answer within the call's timeout: the guest gets -4."""

    code = -4


class KvTooLarge(KvError):
    """A key over MAX_KEY_BYTES or a value over `kv.max_value_bytes`: the guest gets -5."""

    code = -5


class KvQuotaExceeded(KvError):
    """Storing would take the project past `kv.max_project_bytes`: the guest gets -7."""

    code = -7


@dataclass(frozen=True, slots=True)
class KvLimits:
    """The `kv` settings a backend and the host calls enforce (bytes; seconds)."""

    max_value_bytes: int = 1 << 20
    max_project_bytes: int = 100 << 20
    timeout_s: float = 0.5


def check_entry(key: bytes, value: bytes | None, limits: KvLimits) -> None:
    """Raises KvTooLarge, naming the part, for a key or value over its limit."""
    if len(key) > MAX_KEY_BYTES:
        raise KvTooLarge(f"the key is {len(key)} bytes; at most {MAX_KEY_BYTES} are allowed")
    if value is not None and len(value) > limits.max_value_bytes:
        raise KvTooLarge(
            f"the value is {len(value)} bytes; kv.max_value_bytes allows {limits.max_value_bytes}"
        )


class KvStore(Protocol):
    """One backend holding every project's stores. Thread-safe; each call waits at most `timeout`
    seconds. A project's usage counts the bytes of each key plus its value."""

    limits: KvLimits

    def get(self, project: str, store: str, key: bytes, timeout: float) -> bytes | None:
        """The value, or None when the key is absent."""
        ...

    def set(self, project: str, store: str, key: bytes, value: bytes, timeout: float) -> None:
        """Stores `value` (replacing any); KvTooLarge, KvQuotaExceeded leave the store unchanged."""
        ...

    def delete(self, project: str, store: str, key: bytes, timeout: float) -> None:
        """Removes the key; an absent key is no error."""
        ...

    def keys(self, project: str, store: str, prefix: bytes, limit: int, timeout: float) -> list[bytes]:
        """At most `limit` keys starting with `prefix`, in byte order."""
        ...

    def usage(self, project: str, timeout: float) -> int:
        """Bytes the project's keys and values take, as its quota counts them."""
        ...

    def close(self) -> None: ...
