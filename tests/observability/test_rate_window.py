"""Admission: the moving window (the answers of `limits`' memory storage at O(1) a hit), its
leases (exact at low rates, cheap under load), and where concurrency is counted."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.plugins import quotas
from edgehost.rate_window import LEASE_S, LeasedWindow, MemoryWindow, memory_limiter
from edgehost.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def window(limit: int, max_lease: int, clock: Clock) -> tuple[LeasedWindow, MovingWindowRateLimiter]:
    limiter = memory_limiter()
    return LeasedWindow(limiter, RateLimitItemPerMinute(limit), max_lease, clock=clock), limiter


def used(limiter: MovingWindowRateLimiter, limit: int, key: str = "t") -> int:
    return limit - limiter.get_window_stats(RateLimitItemPerMinute(limit), key).remaining


def test_the_window_answers_as_limits_memory_storage_does() -> None:
    """Random costs against a small limit, both storages side by side within one window."""
    ours, theirs = MemoryWindow(), MemoryStorage()
    rng = random.Random(7)
    for _ in range(400):
        key, limit, amount = rng.choice("ab"), 50, rng.choice((1, 1, 2, 5, 13))
        assert ours.acquire_entry(key, limit, 60, amount) == theirs.acquire_entry(key, limit, 60, amount)
        assert ours.get_moving_window(key, limit, 60)[1] == theirs.get_moving_window(key, limit, 60)[1]


def test_hits_leave_the_window_after_its_length_and_the_oldest_one_says_when(clock: Clock) -> None:
    limiter = memory_limiter(clock)
    item = RateLimitItemPerMinute(3)
    assert limiter.hit(item, "t", cost=2)
    clock.now += 30
    assert limiter.hit(item, "t") and not limiter.hit(item, "t")
    assert limiter.get_window_stats(item, "t").reset_time == 1000.0 + 60  # the cost-2 hit leaves first
    clock.now += 30.5  # the first two hits left the window; the third is 30.5 s old
    assert limiter.hit(item, "t", cost=2) and not limiter.hit(item, "t")
    assert limiter.get_window_stats(item, "t") == (1030.0 + 60, 0)


def test_hits_start_no_expiry_thread() -> None:
    """`limits`' memory storage starts a timer thread every 10 ms under load; ours expires inline."""
    storage = MemoryWindow()
    timer = storage.timer  # the one its constructor starts
    timer.join()
    limiter = MovingWindowRateLimiter(storage)
    for _ in range(100):
        limiter.hit(RateLimitItemPerMinute(1_000_000), "t", cost=64)
    assert storage.timer is timer


def test_a_burst_is_admitted_exactly_up_to_the_limit_with_few_window_hits(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    win, limiter = window(100, 8, clock)
    calls = 0
    hit = limiter.hit

    def counting_hit(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        return hit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(limiter, "hit", counting_hit)
    admitted = [win.hit("t") for _ in range(130)]
    assert admitted == [True] * 100 + [False] * 30
    assert used(limiter, 100) == 100
    assert calls < 60  # 130 requests, most served from leases


def test_a_lease_used_up_in_time_grows_and_one_left_unused_shrinks(clock: Clock) -> None:
    win, limiter = window(10_000, 8, clock)
    for _ in range(1 + 2 + 4 + 8 + 8):
        assert win.hit("t")
    assert used(limiter, 10_000) == 23  # leases of 1, 2, 4, 8, 8: all spent
    clock.now += LEASE_S  # the rate dropped: the next lease is halved to 4 (1 used, 3 left)
    assert win.hit("t") and used(limiter, 10_000) == 27
    clock.now += LEASE_S  # those 3 expire unused; the next lease is 2
    assert win.hit("t") and used(limiter, 10_000) == 29


def test_low_limits_are_exact_per_request_and_tenants_do_not_share(clock: Clock) -> None:
    win, limiter = window(3, 1, clock)
    assert [win.hit("a") for _ in range(4)] == [True, True, True, False]
    assert [win.hit("b") for _ in range(3)] == [True, True, True]
    assert used(limiter, 3, "a") == 3
    assert 58 <= win.retry_after("a") <= 60


@pytest.mark.parametrize(
    ("mode", "workers", "shared"), [("dev", 2, False), ("runner", 1, False), ("runner", 2, True)]
)
def test_concurrency_is_counted_across_processes_only_when_several_serve(
    tmp_path: Path, mode: str, workers: int, shared: bool
) -> None:
    settings = load_settings(
        mode, overrides={"runner": {"workers": workers, "state_dir": str(tmp_path), "node_id": "n"}}
    )
    ctx = AppContext(settings=settings, pm=make_plugin_manager(entry_points=False), mode=mode)
    admission = quotas.edgehost_admission(ctx, blocked=frozenset)
    assert isinstance(admission.counts, quotas.SharedCounts) is shared
