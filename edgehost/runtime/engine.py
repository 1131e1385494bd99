"""The process-wide wasmtime Engine and its epoch ticker.

Timeouts use epoch interruption: a daemon thread bumps the engine epoch every
TICK_MS while a deadline is pending, and each store's deadline is a number of
ticks. Epoch checks are far cheaper for guest code than fuel metering.
"""

from __future__ import annotations

import os
import threading
import time

import wasmtime

from .fastcall import set_epoch_deadline

TICK_MS = 5
_lock = threading.Lock()
_engine: wasmtime.Engine | None = None
_ticker: Ticker | None = None


def _build_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    # Copy-on-write memory init makes instantiation a mapping, not a copy of data segments.
    config.memory_init_cow = True
    return wasmtime.Engine(config)


class Ticker(threading.Thread):
    """Bumps the engine epoch every TICK_MS while some deadline is pending, and parks otherwise.

    Ticks run on a fixed grid: sleeping one period per tick would drift by each wake-up's
    lateness (~0.3 ms per tick here, +12 ms on a 200 ms limit). After a stall it resumes, never
    bursts: a burst of ticks would interrupt guests early. A wake-up costs ~50 µs of CPU on a
    virtual machine, so an idle runner parks the ticker instead of paying it 200 times a second.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        super().__init__(name="edgefn-epoch", daemon=True)
        self._engine = engine
        self._period = TICK_MS / 1000
        self._ticks = 0  # epochs this ticker added; it is the only thread that adds any
        self._last_deadline = 0  # the tick by which every deadline set so far has passed
        self._deadline_lock = threading.Lock()
        self.parked = False
        self._wake = threading.Event()

    def demand(self, ticks: int) -> None:
        """A deadline `ticks` from now was just set: tick at least until it passes.

        Counted in ticks, not seconds: a ticker held up (the GIL, a busy host) must still
        reach the deadline's epoch before it parks. The +1 covers a tick under way.
        """
        deadline = self._ticks + ticks + 1
        with self._deadline_lock:  # two guest threads must not lower it
            if deadline > self._last_deadline:
                self._last_deadline = deadline
        # Written before `parked` is read, while `_park` writes `parked` before reading the
        # deadline: under the GIL one of the two sees the other, so no deadline goes unticked.
        if self.parked:
            self._wake.set()

    def _park(self) -> None:
        self.parked = True
        if self._ticks > self._last_deadline:
            self._wake.wait()
        self._wake.clear()
        self.parked = False

    def run(self) -> None:
        due = time.monotonic()
        while True:
            due += self._period
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                due = time.monotonic()
            self._engine.increment_epoch()
            self._ticks += 1
            if self._ticks > self._last_deadline:
                self._park()
                due = time.monotonic()


def get_engine() -> wasmtime.Engine:
    """Return the shared engine. Compiling and validating need no ticker (the CP only does those)."""
    global _engine
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            _engine = _build_engine()
        return _engine


def _start_ticker() -> Ticker:
    """The epoch ticker, started before the first guest code runs in this process (again after a fork)."""
    global _ticker
    engine = get_engine()
    with _lock:
        if _ticker is None:
            _ticker = Ticker(engine)
            _ticker.start()
        return _ticker


def arm_deadline(context: int, ticks: int) -> None:
    """Sets a store's deadline before guest code runs in it, and keeps the ticker going until then."""
    set_epoch_deadline(context, ticks)
    (_ticker or _start_ticker()).demand(ticks)


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
