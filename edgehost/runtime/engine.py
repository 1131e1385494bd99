"""The process-wide wasmtime Engine and its epoch ticker.

Timeouts use epoch interruption: a daemon thread bumps the engine epoch every
TICK_MS, and each store's deadline is a number of ticks. Epoch checks are far
cheaper for guest code than fuel metering.
"""

from __future__ import annotations

import os
import threading
import time

import wasmtime

TICK_MS = 5
_lock = threading.Lock()
_engine: wasmtime.Engine | None = None
_ticker: threading.Thread | None = None


def _build_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    # Copy-on-write memory init makes instantiation a mapping, not a copy of data segments.
    config.memory_init_cow = True
    return wasmtime.Engine(config)


def _tick(engine: wasmtime.Engine) -> None:
    """Ticks on a fixed grid: sleeping one period per tick would drift by each wake-up's lateness
    (~0.3 ms per tick here, +12 ms on a 200 ms limit). After a stall it resumes, never bursts:
    a burst of ticks would interrupt guests early."""
    period = TICK_MS / 1000
    due = time.monotonic()
    while True:
        due += period
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            due = time.monotonic()
        engine.increment_epoch()


def get_engine() -> wasmtime.Engine:
    """Return the shared engine. Compiling and validating need no ticker (the CP only does those)."""
    global _engine
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            _engine = _build_engine()
        return _engine


def start_ticker() -> None:
    """Starts the epoch ticker before the first guest code runs in this process (again after a fork)."""
    global _ticker
    if _ticker is not None:
        return
    engine = get_engine()
    with _lock:
        if _ticker is None:
            _ticker = threading.Thread(target=_tick, args=(engine,), name="edgefn-epoch", daemon=True)
            _ticker.start()


def _forget_ticker() -> None:
    global _ticker, _lock
    _ticker = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_ticker)


def deadline_ticks(ms: int) -> int:
    """Ticks such that the trap fires no earlier than `ms` and at most ~2 ticks later.

    The first tick arrives anywhere within one period of setting the deadline,
    hence the extra tick.
    """
    return max(1, -(-ms // TICK_MS)) + 1
