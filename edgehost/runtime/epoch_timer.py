"""Periodic timers that advance a wasmtime engine's epoch, one tick per period.

`NativeEpochTimer` needs no Python at all while it runs: a POSIX timer (`timer_create`,
`SIGEV_THREAD`) whose notification function *is* `wasmtime_engine_increment_epoch`, called by the
C library on its own thread with the engine pointer as its one argument (a `union sigval` and a
pointer are passed alike on Linux's x86-64 and aarch64 ABIs). So a guest running on a thread
that keeps the GIL is still interrupted at its deadline, and a guest call need not release the
GIL, which under load handed it to granian's threads and cost 8-12 µs of CPU per request in the
wait to get it back (bench/RESULTS.md). glibc runs each notification on a new thread: ~65 µs of
CPU per tick on the development VM, so a timer only runs while guest calls are under way
(engine.Ticker).

`ThreadEpochTimer` is the fallback where there are no POSIX timers: a Python thread, so guest
calls must release the GIL for it to run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from typing import Protocol

from wasmtime import _ffi as ffi

from .fastcall import increment_epoch

SIGEV_THREAD = 2  # <bits/sigevent-consts.h>
CLOCK_MONOTONIC = 1  # <bits/time.h>


class EpochTimer(Protocol):
    """Adds one to the engine's epoch every period between `start()` and `stop()`."""

    needs_gil: bool  # whether ticking runs Python: then guest code must not run with the GIL held

    def start(self) -> None: ...

    def stop(self) -> None: ...


class _SigVal(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]


class _SigEvThread(ctypes.Structure):
    _fields_ = [("function", ctypes.c_void_p), ("attribute", ctypes.c_void_p)]


class _SigEvUnion(ctypes.Union):
    _fields_ = [("pad", ctypes.c_int * 12), ("tid", ctypes.c_int), ("thread", _SigEvThread)]


class _SigEvent(ctypes.Structure):
    """Linux's `struct sigevent` (64 bytes on 64-bit targets)."""

    _fields_ = [
        ("value", _SigVal),
        ("signo", ctypes.c_int),
        ("notify", ctypes.c_int),
        ("un", _SigEvUnion),
    ]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("interval", _Timespec), ("value", _Timespec)]


def _posix_timers() -> ctypes.CDLL:
    """The C library that has `timer_create` (libc since glibc 2.34, librt before); OSError if none."""
    for name in (None, ctypes.util.find_library("rt")):
        lib = ctypes.CDLL(name, use_errno=True)
        if hasattr(lib, "timer_create") and hasattr(lib, "timer_settime"):
            return lib
    raise OSError("this C library has no POSIX timers (timer_create)")


class NativeEpochTimer:
    """A POSIX timer calling `wasmtime_engine_increment_epoch(engine)` every `period_ns`.

    The engine must outlive the timer, and a notification can still be running after
    `timer_delete`; so the engine this timer ticks is never freed (one per process).
    Raises OSError when the platform has no POSIX timers or the timer cannot be created.
    """

    needs_gil = False

    def __init__(self, engine: object, engine_address: int, period_ns: int) -> None:
        self._lib = _posix_timers()
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))  # never freed: see the class docstring
        event = _SigEvent()
        event.notify = SIGEV_THREAD
        event.value.sival_ptr = engine_address
        event.un.thread.function = ctypes.cast(ffi.dll.wasmtime_engine_increment_epoch, ctypes.c_void_p).value
        self._id = ctypes.c_void_p()
        if self._lib.timer_create(CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(self._id)) != 0:
            raise OSError(ctypes.get_errno(), "timer_create failed")
        period = _Timespec(period_ns // 1_000_000_000, period_ns % 1_000_000_000)
        self._periodic = _ITimerSpec(period, period)
        self._disarmed = _ITimerSpec()

    def _set(self, spec: _ITimerSpec) -> None:
        if self._lib.timer_settime(self._id, 0, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timer_settime failed")

    def start(self) -> None:
        self._set(self._periodic)

    def stop(self) -> None:
        self._set(self._disarmed)


class ThreadEpochTimer:
    """The fallback: a daemon thread adding one tick per period while started (it needs the GIL)."""

    needs_gil = True

    def __init__(self, engine_address: int, period_ns: int) -> None:
        self._address = engine_address
        self._period_s = period_ns / 1e9
        self._running = threading.Event()
        threading.Thread(target=self._run, name="edgefn-epoch-timer", daemon=True).start()

    def _run(self) -> None:
        while self._running.wait():
            time.sleep(self._period_s)
            increment_epoch(self._address)

    def start(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._running.clear()


def epoch_timer(engine: object, engine_address: int, period_ns: int) -> EpochTimer:
    """The native timer where the platform has POSIX timers, else the thread."""
    try:
        return NativeEpochTimer(engine, engine_address, period_ns)
    except (OSError, AttributeError):
        return ThreadEpochTimer(engine_address, period_ns)
