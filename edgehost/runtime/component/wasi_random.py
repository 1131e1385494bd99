"""wasi:random 0.2 from the operating system's CSPRNG (also for the `insecure` interfaces); one
call returns at most the function's memory size, since no guest could take more."""

from __future__ import annotations

import os

from ..errors import InvokeError
from .state import ComponentState, Handler


def _bytes(state: ComponentState, size: int) -> bytes:
    if size > state.max_bytes:
        raise InvokeError(
            "trap", f"the guest asked for {size} random bytes; its memory holds {state.max_bytes}"
        )
    return os.urandom(size)


def _u64(state: ComponentState) -> int:
    return int.from_bytes(os.urandom(8), "little")


def _seed(state: ComponentState) -> tuple[int, int]:
    return _u64(state), _u64(state)


RANDOM: dict[str, Handler] = {"get-random-bytes": _bytes, "get-random-u64": _u64}
INSECURE: dict[str, Handler] = {"get-insecure-random-bytes": _bytes, "get-insecure-random-u64": _u64}
INSECURE_SEED: dict[str, Handler] = {"insecure-seed": _seed}
