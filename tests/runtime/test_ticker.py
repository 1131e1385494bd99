"""The epoch ticker's arithmetic and parking on an injected clock and timer.

No thread runs and nothing is timed: the tests play a periodic timer's ticks at chosen clock
readings (on time, late) and read when each store's deadline would trap, and play the parking
thread's looks (`idle`) to see the timer stopped and started again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from edgehost.runtime.engine import TICK_MS, Ticker, deadline_ticks

MS = 1_000_000  # clock units (ns) per millisecond
TICK = TICK_MS * MS


@dataclass
class Timer:
    """Records what the ticker asks of the timer; the test delivers ticks itself."""

    running: bool = False
    starts: int = 0
    needs_gil: bool = False

    def start(self) -> None:
        self.running = True
        self.starts += 1

    def stop(self) -> None:
        self.running = False


@dataclass
class Store:
    """What wasmtime does with a relative deadline: the guest traps once the epoch reaches it."""

    armed_at: int
    ms: int
    trap_epoch: int


@dataclass
class Engine:
    now: int = 0
    epoch: int = 0
    timer: Timer = field(default_factory=Timer)
    stores: dict[int, Store] = field(default_factory=dict)
    ticker: Ticker = field(init=False)

    def __post_init__(self) -> None:
        self.ticker = Ticker(self.timer, self._set_deadline)

    def _set_deadline(self, context: int, ticks: int) -> None:
        store = self.stores[context]
        store.trap_epoch = self.epoch + ticks

    def arm(self, context: int, ms: int) -> Store:
        self.stores[context] = Store(self.now, ms, -1)
        self.ticker.arm(context, ms)
        return self.stores[context]

    def tick(self) -> None:
        assert self.timer.running, "a tick while the timer is stopped"
        self.epoch += 1

    def trapped(self, store: Store) -> bool:
        return self.epoch >= store.trap_epoch


def test_a_deadline_counts_the_ticks_in_its_limit_plus_the_period_under_way() -> None:
    assert [deadline_ticks(ms) for ms in (1, TICK_MS - 1, TICK_MS, TICK_MS + 1, 50)] == [
        2,
        2,
        2,
        3,
        50 // TICK_MS + 1,
    ]


def test_deadlines_never_trap_early_and_trap_within_two_ticks_of_their_limit() -> None:
    """Deadlines set at every phase of the timer's period, ticks delivered on time or late: no
    guest traps before its limit, and with ticks on time every one has trapped two ticks after it."""
    rng = random.Random(17)
    for trial in range(3000):
        engine = Engine()
        engine.now = rng.randint(0, 10 * TICK)
        ms = rng.choice((1, 2, 4, 5, 6, 49, 50, 51, 200, rng.randint(1, 5000)))
        store = engine.arm(trial, ms)
        first_tick = rng.randint(1, TICK)  # the timer started at some phase before the deadline
        late = rng.random() < 0.3  # a loaded machine delivers ticks late, never early
        deadline = store.armed_at + ms * MS
        due = store.armed_at + first_tick
        while not engine.trapped(store):
            engine.now = due + (rng.randint(0, 3 * TICK) if late else 0)
            engine.tick()
            due += TICK
            if engine.trapped(store):
                assert engine.now >= deadline, (ms, first_tick, engine.now - store.armed_at)
                if not late:
                    assert engine.now <= deadline + 2 * TICK, (ms, first_tick, engine.now - deadline)


def test_the_timer_runs_from_the_first_call_until_a_whole_idle_period_has_passed() -> None:
    """Idle, no tick costs CPU; the parking thread looks once per IDLE_S and stops the timer only
    after a look that saw no call armed since the one before and none running."""
    engine = Engine()
    assert not engine.timer.running and engine.ticker.parked
    engine.arm(1, 50)
    assert engine.timer.running and not engine.ticker.parked
    engine.ticker.disarm()
    assert not engine.ticker.idle()  # a call was armed since the last look
    assert engine.timer.running
    assert engine.ticker.idle()
    assert not engine.timer.running and engine.ticker.parked


def test_the_timer_never_stops_while_a_call_runs_however_long_after_its_deadline() -> None:
    """Ticks come late or are lost on a loaded machine: a runaway still running after its limit
    needs them, and with the timer stopped it would never be interrupted."""
    engine = Engine()
    store = engine.arm(1, 5)
    for _ in range(100):
        assert not engine.ticker.idle()
    assert engine.timer.running
    while not engine.trapped(store):
        engine.tick()
    engine.ticker.disarm()
    engine.ticker.idle()
    assert engine.ticker.idle() and not engine.timer.running


def test_a_call_after_parking_starts_the_timer_again() -> None:
    engine = Engine()
    engine.arm(1, 5)
    engine.ticker.disarm()
    while not engine.ticker.idle():
        pass
    store = engine.arm(2, 20)
    assert engine.timer.running and engine.timer.starts == 2
    for _ in range(deadline_ticks(20)):
        engine.tick()
    assert engine.trapped(store)
