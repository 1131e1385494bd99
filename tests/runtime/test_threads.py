from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from edgehost.runtime import GuestRequest, HostFunction, InvokeError, get_engine
from edgehost.runtime.engine import TICK_MS
from tests.procs import REPO

from .conftest import compile_guest

REQ = GuestRequest("GET", "/", [], b"")


def test_runaway_guest_does_not_hold_the_gil() -> None:
    running = threading.Event()
    signal = HostFunction("edgefn", "signal", (), (), lambda ctx, caller: running.set())
    instance = compile_guest("spin_signal", extra=[signal], max_execution_ms=60_000).instantiate()
    outcome: list[str] = []

    def run() -> None:
        try:
            instance.invoke(REQ, request_id="spin")
        except InvokeError as exc:
            outcome.append(exc.code)

    thread = threading.Thread(target=run)
    thread.start()
    assert running.wait(timeout=30)
    # Python keeps running here while the guest spins; with the GIL held this line would
    # only run after the 60 s deadline, when the thread had already finished.
    assert sum(range(100_000)) > 0
    assert thread.is_alive()
    engine = get_engine()
    for _ in range(2 * 60_000 // TICK_MS):  # past the deadline however far the ticker has got
        engine.increment_epoch()
    thread.join()
    assert outcome == ["timeout"]


def test_concurrent_instantiate_and_invoke() -> None:
    compiled = compile_guest("echo")

    def work(i: int) -> int:
        instance = compiled.instantiate()
        return sum(instance.invoke(REQ, request_id=f"{i}-{n}").status for n in range(5))

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(40))) == [1000] * 40


TICKER_PROBE = """
import threading
from edgehost.runtime import (
    CompiledFunction, FunctionSpec, builtin_host_functions, validate_module, wasm_from_source
)
from tests.procs import REPO

def ticking():
    return any(t.name == "edgefn-epoch" for t in threading.enumerate())

wasm = wasm_from_source((REPO / "functions/hello/hello.wat").read_bytes(), "hello.wat")
spec = FunctionSpec("t.hello", 1, memory_pages=16, max_execution_ms=50)
validate_module(wasm, spec, host_functions=builtin_host_functions())
compiled = CompiledFunction.load(spec, wasm, host_functions=builtin_host_functions())
print(ticking())
compiled.instantiate()
print(ticking())
"""


PARKING_PROBE = """
import threading, time
from edgehost.runtime import GuestRequest, InvokeError, engine
from tests.runtime.conftest import compile_guest

request = GuestRequest("GET", "/", [], b"")
compile_guest("echo").instantiate().invoke(request, request_id="warm")
ticker = engine._ticker
for _ in range(200):  # the call's 50 ms deadline has passed well within this
    if ticker.parked:
        break
    time.sleep(0.05)
print(ticker.parked)
runaway = compile_guest("loop", max_execution_ms=50).instantiate()
def run():
    try:
        runaway.invoke(request, request_id="spin")
    except InvokeError as exc:
        print(exc.code)
thread = threading.Thread(target=run, daemon=True)
thread.start()
thread.join(timeout=10)
"""


def probe(script: str) -> list[str]:
    """A fresh process: the ticker is one per process, and other tests' deadlines keep it going."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_epoch_ticker_starts_with_the_first_instance_not_with_validation() -> None:
    """A control plane validates and compiles modules but runs none: it must not tick 200 times a second."""
    assert probe(TICKER_PROBE) == ["False", "True"]


def test_the_ticker_parks_when_no_deadline_is_pending_and_wakes_for_the_next() -> None:
    """Idle, it must not wake 200 times a second; parked, it must still stop a runaway guest."""
    assert probe(PARKING_PROBE) == ["True", "timeout"]


KEEPING_PROBE = """
import threading, time
from edgehost.runtime import GuestRequest, InvokeError, engine
from tests.runtime.conftest import compile_guest

request = GuestRequest("GET", "/", [], b"")
runaway = compile_guest("loop", max_execution_ms=100).instantiate()
print(engine.keep_gil_on_this_thread())
turns = [0]
def count():
    while True:
        turns[0] += 1
        time.sleep(0.001)
threading.Thread(target=count, daemon=True).start()
time.sleep(0.05)
before = turns[0]
try:
    runaway.invoke(request, request_id="spin")
except InvokeError as exc:
    print(exc.code)
print(turns[0] - before <= 2)
"""


def test_a_thread_that_keeps_the_gil_in_guest_calls_still_stops_a_runaway_at_its_deadline() -> None:
    """The event loop's inline calls keep the GIL: the epoch must advance without Python (a
    Python ticker could not run), and no other Python thread runs while the guest does."""
    assert probe(KEEPING_PROBE) == ["True", "timeout", "True"]


FALLBACK_PROBE = """
from edgehost.runtime import GuestRequest, InvokeError, engine, epoch_timer
from tests.runtime.conftest import compile_guest

def no_posix_timers(*args, **kwargs):
    raise OSError("this C library has no POSIX timers (timer_create)")

epoch_timer.NativeEpochTimer = no_posix_timers
runaway = compile_guest("loop", max_execution_ms=50).instantiate()
print(engine.keep_gil_on_this_thread())
try:
    runaway.invoke(GuestRequest("GET", "/", [], b""), request_id="spin")
except InvokeError as exc:
    print(exc.code)
"""


def test_without_posix_timers_a_python_thread_ticks_and_guest_calls_release_the_gil() -> None:
    assert probe(FALLBACK_PROBE) == ["False", "timeout"]
