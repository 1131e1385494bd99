"""wasi:clocks 0.2: the monotonic clock (and pollables due on it, which really wait) and the
wall clock, in nanoseconds."""

from __future__ import annotations

import time
from typing import Any

from .state import ComponentState, Handler
from .wasi_io import Pollable

_RESOLUTION_NS = 1000


def _now(state: ComponentState) -> int:
    return time.monotonic_ns()


def _resolution(state: ComponentState) -> int:
    return _RESOLUTION_NS


def _subscribe_instant(state: ComponentState, when: int) -> Any:
    return state.own(Pollable(when / 1e9), "pollable")


def _subscribe_duration(state: ComponentState, when: int) -> Any:
    return state.own(Pollable(time.monotonic() + when / 1e9), "pollable")


def _wall_now(state: ComponentState) -> dict[str, int]:
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return {"seconds": seconds, "nanoseconds": nanoseconds}


def _wall_resolution(state: ComponentState) -> dict[str, int]:
    return {"seconds": 0, "nanoseconds": _RESOLUTION_NS}


MONOTONIC_CLOCK: dict[str, Handler] = {
    "now": _now,
    "resolution": _resolution,
    "subscribe-instant": _subscribe_instant,
    "subscribe-duration": _subscribe_duration,
}
WALL_CLOCK: dict[str, Handler] = {"now": _wall_now, "resolution": _wall_resolution}
