"""The epoch ticker's arithmetic on an injected clock: deadlines count wall-clock time, not wake-ups.

No thread runs and nothing is timed: the test plays the ticker's wake-ups (`advance`) at chosen
clock readings, late ones included, and reads when each store's deadline would trap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from edgehost.runtime.engine import TICK_MS, Ticker

MS = 1_000_000  # clock units (ns) per millisecond
TICK = TICK_MS * MS


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
    stores: dict[int, Store] = field(default_factory=dict)
    ticker: Ticker = field(init=False)

    def __post_init__(self) -> None:
        self.ticker = Ticker(self._increment, self._set_deadline, lambda: self.now)

    def _increment(self) -> None:
        self.epoch += 1

    def _set_deadline(self, context: int, ticks: int) -> None:
        store = self.stores[context]
        store.trap_epoch = self.epoch + ticks

    def arm(self, context: int, ms: int) -> Store:
        self.stores[context] = Store(self.now, ms, -1)
        self.ticker.arm(context, ms)
        return self.stores[context]

    def trapped(self, store: Store) -> bool:
        return self.epoch >= store.trap_epoch


def test_a_late_wake_up_adds_every_tick_that_fell_due() -> None:
    """A ticker starved of CPU for 1 s must not owe the guest that second (5 s limits took 10 s)."""
    engine = Engine()
    store = engine.arm(1, 5000)
    engine.now = 1000 * MS  # the first wake-up comes a second late
    engine.ticker.advance()
    assert engine.epoch == 1000 // TICK_MS
    engine.now = 5000 * MS
    engine.ticker.advance()
    assert engine.trapped(store)


def test_catching_up_never_traps_a_guest_armed_while_the_ticker_lagged() -> None:
    """A deadline set while the epoch lags the clock counts from the clock, so the catch-up is not early."""
    engine = Engine()
    engine.arm(1, 10_000)
    engine.now = 3000 * MS  # the ticker has not run for 3 s: the epoch still says 0
    late = engine.arm(2, 100)
    engine.now += 99 * MS
    engine.ticker.advance()  # adds ~620 ticks at once
    assert not engine.trapped(late)
    engine.now += 1 * MS
    engine.ticker.advance()
    assert engine.trapped(late)


def test_parked_time_is_not_owed_and_the_next_deadline_restarts_the_grid() -> None:
    engine = Engine()
    first = engine.arm(1, 20)
    engine.now = 20 * MS
    assert engine.ticker.advance() is None  # every deadline passed: park
    assert engine.trapped(first) and engine.ticker.parked
    epoch = engine.epoch
    engine.now += 60_000 * MS  # a minute parked
    second = engine.arm(2, 50)
    assert not engine.ticker.parked
    engine.now += 49 * MS
    engine.ticker.advance()
    assert engine.epoch - epoch == 49 // TICK_MS  # nothing added for the parked minute
    assert not engine.trapped(second)
    engine.now += 1 * MS
    assert engine.ticker.advance() is None
    assert engine.trapped(second)


def test_the_ticker_sleeps_until_the_next_tick_on_the_grid() -> None:
    engine = Engine()
    engine.arm(1, 100)
    engine.now = 12 * MS  # woke 2 ms past tick 2: the next is due at 15 ms, not 17
    assert engine.ticker.advance() == 15 * MS


def test_deadlines_never_trap_early_and_trap_by_the_first_wake_up_a_tick_after_them() -> None:
    """Random deadlines, wake-ups on time, late, or after long stalls, and parking between bursts."""
    rng = random.Random(13)
    engine = Engine()
    parked = True
    for context in range(4000):
        if rng.random() < 0.4 or parked:
            engine.arm(context, rng.choice((1, 2, 5, 7, 50, 51, 200, 5000, rng.randint(1, 10_000))))
            parked = False
        engine.now += rng.choice((0, 1, TICK // 2, TICK, TICK + 1, 3 * TICK, rng.randint(0, 2000 * MS)))
        if parked:
            continue  # a parked ticker sleeps until the next deadline wakes it
        parked = engine.ticker.advance() is None
        for store in engine.stores.values():
            deadline = store.armed_at + store.ms * MS
            if engine.trapped(store):
                assert engine.now >= deadline, store
            elif engine.now >= deadline + TICK:
                raise AssertionError(f"{store} not trapped at {engine.now}")
