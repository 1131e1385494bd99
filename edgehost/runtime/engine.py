"""The process-wide wasmtime Engine and its epoch ticker.

Timeouts use epoch interruption: a daemon thread keeps the engine epoch at the number of TICK_MS
periods elapsed on the monotonic clock while a deadline is pending, and each store's deadline is
the epoch of the first tick due at or after its wall-clock deadline. Epoch checks are far cheaper
for guest code than fuel metering.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from functools import partial

import wasmtime

from .fastcall import increment_epoch, set_epoch_deadline

TICK_MS = 5
_TICK_NS = TICK_MS * 1_000_000
_lock = threading.Lock()
_engine: wasmtime.Engine | None = None
_checking_engine: wasmtime.Engine | None = None
_ticker: Ticker | None = None


def _build_engine(*, checking: bool = False) -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    # Copy-on-write memory init makes instantiation a mapping, not a copy of data segments.
    config.memory_init_cow = True
    if checking:
        # Code that is only type-checked and linked, never run, needs no optimisation, and one
        # core: an 18 MB componentize-py component took 4.9 s of CPU on one core this way
        # against 6.8 s spread over every core by default (wasmtime 50, a loaded 2-core machine).
        config.cranelift_opt_level = "none"
        config.parallel_compilation = False
    return wasmtime.Engine(config)


class Ticker(threading.Thread):
    """Keeps the engine epoch at the ticks elapsed in wall-clock time while a deadline is pending.

    `max_execution_ms` is a wall-clock limit, so the epoch follows the clock, not the wake-ups
    this thread happens to get: tick k is due at a fixed time on a grid of TICK_MS, and each
    wake-up adds every tick that fell due since the last one. A wake-up that comes late (other
    threads hold the CPU or the GIL: 40 runaway guests on 2 cores) delays a trap by that much,
    but no longer costs ticks; before, each late wake-up lost time and 5 s deadlines trapped
    after up to 10 s. A deadline is the epoch of the first tick due at or after it, so catching
    up never traps a guest early. While no deadline is pending the ticker parks (a wake-up
    costs ~50 µs of CPU on a virtual machine); the deadline that wakes it starts a new grid at
    its own time, so parked time is never owed.

    `increment` (the engine's epoch), `set_deadline` (a store's, relative to the epoch) and
    `clock` (nanoseconds) are injectable, so the arithmetic is tested without wasmtime or a
    real clock; `run` sleeps for real.
    """

    def __init__(
        self,
        increment: Callable[[], None],
        set_deadline: Callable[[int, int], None] = set_epoch_deadline,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(name="edgefn-epoch", daemon=True)
        self._increment = increment
        self._set_deadline = set_deadline
        self._clock = clock
        self._lock = threading.Lock()  # the epoch, the grid and the deadlines change together
        self._ticks = 0  # epochs this ticker added: the engine's epoch (it is the only thread adding)
        self._grid = (0, clock())  # (tick e0, its due time): tick k is due at t0 + (k - e0) * TICK
        self._last_deadline = 0  # the tick by which every deadline set so far has passed
        self.parked = True
        self._wake = threading.Event()

    def arm(self, context: int, ms: int) -> None:
        """Sets the store's epoch deadline to the first tick due at or after `ms` from now, and
        keeps ticking until it passes.

        Under the lock, so the engine's epoch is `_ticks` while the relative deadline is set
        (`wasmtime_context_set_epoch_deadline` counts from the current epoch; the guest traps
        once the epoch reaches it) and no two threads lower `_last_deadline`.
        """
        with self._lock:
            now = self._clock()
            if self.parked:  # a new grid from now: nothing is owed for the parked time
                self._grid = (self._ticks, now)
                self.parked = False
                self._wake.set()
            first, start = self._grid
            target = first - (start - now - ms * 1_000_000) // _TICK_NS  # ceil: no tick due before it
            if target > self._last_deadline:
                self._last_deadline = target
            self._set_deadline(context, max(1, target - self._ticks))

    def advance(self) -> int | None:
        """Adds every tick due by now; returns when the next one is due, or None to park."""
        with self._lock:
            first, start = self._grid
            due = first + (self._clock() - start) // _TICK_NS
            for _ in range(due - self._ticks):
                self._increment()
            self._ticks = max(self._ticks, due)
            if self._ticks >= self._last_deadline:
                self.parked = True
                return None
            return start + (self._ticks + 1 - first) * _TICK_NS

    def run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while (next_due := self.advance()) is not None:
                delay = next_due - self._clock()
                if delay > 0:
                    time.sleep(delay / 1e9)


def get_engine() -> wasmtime.Engine:
    """Return the shared engine. Compiling and validating need no ticker (the CP only does those)."""
    global _engine
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            _engine = _build_engine()
        return _engine


def checking_engine() -> wasmtime.Engine:
    """An engine for registration checks of components, whose compiled code is thrown away: no
    optimisation and no parallel compilation, so one registration holds one core, not all of
    them, for a shorter time. Nothing compiled by it may be instantiated or serialized."""
    global _checking_engine
    with _lock:
        if _checking_engine is None:
            _checking_engine = _build_engine(checking=True)
        return _checking_engine


def _start_ticker() -> Ticker:
    """The epoch ticker, started before the first guest code runs in this process (again after a fork)."""
    global _ticker
    engine = get_engine()
    with _lock:
        if _ticker is None:
            address = ctypes.cast(engine.ptr(), ctypes.c_void_p).value
            _ticker = Ticker(partial(increment_epoch, address))
            _ticker.start()
        return _ticker


def arm_deadline(context: int, ms: int) -> None:
    """Sets a store's deadline `ms` from now, before guest code runs in it; the ticker runs until then."""
    (_ticker or _start_ticker()).arm(context, ms)


def _forget_ticker() -> None:
    global _ticker, _lock
    _ticker = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_ticker)
