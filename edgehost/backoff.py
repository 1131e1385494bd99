"""Jittered exponential backoff: the one retry pacing of the project (agent, tail, artifact fetches).

A wait starts at `initial_s`, doubles after each failure up to `max_s`, and is multiplied by a
uniform factor in [1 - jitter, 1 + jitter] (then capped at `max_s` again), so a fleet of runners
that lost the control plane together does not come back in lockstep ("full jitter" would spread
them more but let a retry come at once; requirement 11.1 asks for 1 s doubling to 60 s).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """The policy; `waits()` is one run of retries, and a fresh `waits()` starts over (a success)."""

    initial_s: float = 1.0
    max_s: float = 60.0
    jitter: float = 0.2

    def waits(self, rng: random.Random | None = None) -> Iterator[float]:
        """Seconds to wait before each retry, endless: initial_s, twice that, ... max_s, jittered."""
        rng = rng or random.Random()
        base = min(self.initial_s, self.max_s)
        while True:
            yield min(base * (1 + rng.uniform(-self.jitter, self.jitter)), self.max_s)
            base = min(base * 2, self.max_s)
