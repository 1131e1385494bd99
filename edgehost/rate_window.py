"""The per-minute moving window of the quotas plugin, cheap at any limit and any rate.

`limits` decides (`MovingWindowRateLimiter`); this module makes each decision cost O(1):
`MemoryWindow` stores a process's window, and `LeasedWindow` takes hits ahead of use so
that a shared window (Redis) is consulted once per lease rather than once per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

LEASE_S = 0.1


class MemoryWindow(MemoryStorage):
    """`limits`' memory storage with its moving window replaced, same answers.

    `MemoryStorage` keeps one list item per hit, inserts at the front, and starts a timer
    thread every 10 ms that copies the list: at a limit of a million per minute, megabytes
    moved per hit, a hundred threads a second and the malloc arenas they leave behind.
    Here a hit of `amount` is one (time, amount) pair and a running total per key; pairs
    older than the window leave from the front when the key is next used.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._hits: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def _expire(self, key: str, expiry: int, now: float) -> deque[tuple[float, int]]:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            self._totals[key] = 0
        oldest = now - expiry
        while hits and hits[0][0] < oldest:
            self._totals[key] -= hits.popleft()[1]
        return hits

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        with self._lock:
            now = self._clock()
            hits = self._expire(key, expiry, now)
            if self._totals[key] + amount > limit:
                return False
            hits.append((now, amount))
            self._totals[key] += amount
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(time of the oldest hit in the window, hits in the window), as `limits` expects."""
        with self._lock:
            now = self._clock()
            hits = self._expire(key, expiry, now)
            return (hits[0][0], self._totals[key]) if hits else (now, 0)


def memory_limiter(clock: Callable[[], float] = time.time) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(MemoryWindow(clock))


class Lease:
    """Hits taken from a window ahead of use: `left` of `size` remain until `until` (monotonic)."""

    __slots__ = ("left", "size", "until")

    def __init__(self, left: int, size: int, until: float) -> None:
        self.left, self.size, self.until = left, size, until


class LeasedWindow:
    """A `limits` moving window consulted once per lease of hits instead of once per request.

    A hit costs a round trip in Redis, and a lock and a clock read in memory, per request at
    full rate. Under load, a process takes several hits at once (`cost=`) and spends them
    locally. The lease doubles while it is used up within LEASE_S and halves when it
    is not, so at low rates every request still consults the window (exact), and it never
    exceeds `max_lease`. The error it brings: hits leased and not used within LEASE_S still
    count (at most `max_lease - 1` per lease, so a tenant is refused a little early), and a
    leased hit counts from when it was leased, so it leaves the window up to LEASE_S early.
    """

    def __init__(
        self,
        limiter: MovingWindowRateLimiter,
        item: RateLimitItem,
        max_lease: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.item = item
        self.max_lease = max_lease
        self._clock = clock
        self._leases: dict[str, Lease] = {}

    def hit(self, key: str) -> bool:
        """One hit for `key`; raises what the storage raises when it must be consulted."""
        now = self._clock()
        lease = self._leases.get(key)
        size = 1
        if lease is not None:
            if now < lease.until:
                if lease.left:
                    lease.left -= 1
                    return True
                size = min(self.max_lease, lease.size * 2)
            else:
                size = max(1, lease.size // 2)
        allowed = self.limiter.hit(self.item, key, cost=size)
        if not allowed and size > 1:  # fewer than a lease remain: exact from here on
            size = 1
            allowed = self.limiter.hit(self.item, key)
        if not allowed:
            self._leases.pop(key, None)
            return False
        self._leases[key] = Lease(size - 1, size, now + LEASE_S)
        return True

    def retry_after(self, key: str) -> int:
        """Seconds until the oldest hit leaves the window, i.e. until one more request fits."""
        try:
            reset = self.limiter.get_window_stats(self.item, key).reset_time
        except Exception:
            return 60
        return min(60, max(1, math.ceil(reset - time.time())))
