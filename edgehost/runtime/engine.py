"""The process-wide wasmtime Engine and its epoch ticker.

Timeouts use epoch interruption: while a deadline is pending, a timer adds one to the engine's
epoch every TICK_MS (edgehost/runtime/epoch_timer.py: a POSIX timer that needs no Python, so
guest code may run with the GIL held), and a store's deadline is enough ticks from now that it
never traps early. Epoch checks are far cheaper for guest code than fuel metering.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable

import wasmtime

from .epoch_timer import EpochTimer, epoch_timer
from .fastcall import keep_gil_during_guest_calls, set_epoch_deadline

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


def deadline_ticks(ms: int) -> int:
    """The relative epoch deadline for a limit of `ms`: the ticks in `ms`, rounded up, plus one for
    the period already under way when the deadline is set. So a guest never traps before its
    limit, and traps within two ticks after it while the timer's ticks arrive on time (a late or
    lost tick delays the trap by as much)."""
    return -(-ms // TICK_MS) + 1


class Ticker:
    """Runs the epoch timer while guest calls are under way and stops it once the process is idle.

    A tick costs ~65 µs of CPU on the development VM (glibc starts a thread per notification),
    so an idle process must not tick 200 times a second. The timer cannot be stopped by the clock
    (when the last deadline is due): ticks can come late or be lost on a loaded machine, and a
    guest still running with the timer stopped would never be interrupted. So it runs while any
    call armed with `arm` has not `disarm`ed, and a thread (`edgefn-epoch`) stops it once a
    whole IDLE_S has passed with no call armed and none running; the next `arm` starts it again.
    `set_deadline` (a store's, relative to the epoch) is injectable, so the arithmetic and the
    parking are tested without wasmtime.
    """

    IDLE_S = 1.0

    def __init__(
        self, timer: EpochTimer, set_deadline: Callable[[int, int], None] = set_epoch_deadline
    ) -> None:
        self.timer = timer
        self._set_deadline = set_deadline
        self._lock = threading.Lock()  # the timer's state and the counts change together
        self._running = 0  # calls armed and not yet disarmed
        self._armed = False  # a call was armed since the parking thread last looked
        self.parked = True
        self._wake = threading.Event()
        self._parker = threading.Thread(target=self._run, name="edgefn-epoch", daemon=True)

    def start(self) -> None:
        self._parker.start()

    def arm(self, context: int, ms: int) -> None:
        """Sets the store's epoch deadline `ms` from now (`deadline_ticks`) and keeps the timer
        running until the call `disarm`s."""
        with self._lock:
            self._running += 1
            self._armed = True
            if self.parked:
                self.timer.start()
                self.parked = False
                self._wake.set()
        self._set_deadline(context, deadline_ticks(ms))

    def disarm(self) -> None:
        """The call armed last on this store has returned or trapped: it needs no more ticks."""
        with self._lock:
            self._running -= 1

    def idle(self) -> bool:
        """Stops the timer if no call was armed since the last look and none is running."""
        with self._lock:
            if self._running or self._armed:
                self._armed = False
                return False
            self.timer.stop()
            self.parked = True
            return True

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while not self.idle():
                time.sleep(self.IDLE_S)


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
            assert address is not None
            _ticker = Ticker(epoch_timer(engine, address, _TICK_NS))
            _ticker.start()
        return _ticker


def keep_gil_on_this_thread() -> bool:
    """Lets guest calls on the calling thread keep the GIL where the epoch advances without Python
    (`NativeEpochTimer`); returns whether they do. For the event loop's inline calls: they block
    the loop either way, and releasing the GIL only invites other threads to take it."""
    if not _start_ticker().timer.needs_gil:
        keep_gil_during_guest_calls()
        return True
    return False


def arm_deadline(context: int, ms: int) -> None:
    """Sets a store's deadline `ms` from now, before guest code runs in it; the epoch advances
    until `disarm_deadline`, which the caller must reach however the call ends."""
    (_ticker or _start_ticker()).arm(context, ms)


def disarm_deadline() -> None:
    """The guest call `arm_deadline` was for has ended (returned, trapped or failed)."""
    assert _ticker is not None
    _ticker.disarm()


def _forget_ticker() -> None:
    global _ticker, _lock
    _ticker = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_ticker)
