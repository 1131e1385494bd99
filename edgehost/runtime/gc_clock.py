"""CPU time each thread has spent in Python's cyclic garbage collector.

A collection runs on whichever thread allocated past the threshold, inside whatever that thread
was doing: a full one took 3-45 ms in a runner under load (26,000 tracked objects), so a hot
function's call that happened to trigger one looked slow and was moved off the event loop
(bench/RESULTS.md). Timing code subtracts what this clock advanced meanwhile.
"""

from __future__ import annotations

import gc
import threading
from time import thread_time
from typing import Any


class _Clock(threading.local):
    spent = 0.0  # seconds of this thread's CPU time inside collections
    started = 0.0


_clock = _Clock()


def _on_collection(phase: str, _info: dict[str, Any]) -> None:
    if phase == "start":
        _clock.started = thread_time()
    else:
        _clock.spent += thread_time() - _clock.started


def gc_seconds() -> float:
    """CPU seconds this thread has spent in the garbage collector so far (monotonic)."""
    return _clock.spent


gc.callbacks.append(_on_collection)
