"""`Backoff`: the one retry pacing (agent reconnects, tail watch, artifact fetches)."""

from __future__ import annotations

import itertools
import random

from edgehost.backoff import Backoff


def test_waits_double_to_the_cap_within_the_jitter() -> None:
    waits = list(itertools.islice(Backoff(jitter=0.2).waits(random.Random(3)), 9))
    for wait, base in zip(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60], strict=True):
        assert 0.8 * base <= wait <= min(1.2 * base, 60)


def test_without_jitter_the_waits_are_exact() -> None:
    waits = Backoff(initial_s=0.5, max_s=3, jitter=0).waits()
    assert list(itertools.islice(waits, 5)) == [0.5, 1, 2, 3, 3]


def test_jitter_spreads_runs_and_never_passes_the_cap() -> None:
    """Property, over seeded random policies: every wait within ±jitter of its base and at most
    max_s, and two runs from different seeds differ (runners retrying together spread out)."""
    rng = random.Random(14)
    for _ in range(200):
        policy = Backoff(
            initial_s=rng.uniform(0.01, 5), max_s=rng.uniform(5, 120), jitter=rng.uniform(0.01, 0.5)
        )
        waits = list(itertools.islice(policy.waits(random.Random(rng.random())), 12))
        base = policy.initial_s
        for wait in waits:
            assert (
                base * (1 - policy.jitter) - 1e-9
                <= wait
                <= min(base * (1 + policy.jitter), policy.max_s) + 1e-9
            )
            base = min(base * 2, policy.max_s)
        assert waits != list(itertools.islice(policy.waits(random.Random(rng.random())), 12))


def test_a_fresh_run_starts_over() -> None:
    policy = Backoff(jitter=0)
    waits = policy.waits()
    assert [next(waits) for _ in range(3)] == [1, 2, 4]
    assert next(policy.waits()) == 1
