"""The share mapping of a rollout (edgehost/rollouts.py), property-style with fixed seeds: every key
lands on a version with a share, the same key on the same version whatever process asks, and many
keys spread close to the shares."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from edgehost.errors import ApiError
from edgehost.rollouts import Split, check_shares, key_point


def random_shares(rng: random.Random) -> list[tuple[int, int]]:
    """1..6 distinct versions with percents 1..100 summing to 100."""
    count = rng.randint(1, 6)
    cuts = sorted(rng.sample(range(1, 100), count - 1))
    percents = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return list(zip(rng.sample(range(1, 50), count), percents, strict=True))


def test_every_key_gets_a_version_with_a_share_and_many_keys_follow_the_shares() -> None:
    rng = random.Random(17)
    for _ in range(40):
        shares = random_shares(rng)
        check_shares(shares)
        split = Split.of(shares)
        keys = 4000
        counts = dict.fromkeys((v for v, _ in shares), 0)
        for n in range(keys):
            key = rng.randbytes(rng.randint(0, 40)) if n % 2 else f"user-{n}".encode()
            counts[split.pick(key)] += 1
            assert split.pick(key) == split.pick(key)
        for version, percent in shares:
            # ~4.5 standard deviations of a binomial at p = 0.5, 4000 draws: loose, so it never flakes
            assert abs(counts[version] / keys - percent / 100) < 0.036, (shares, counts)
            assert counts[version] > 0


def test_requests_without_a_key_follow_the_shares() -> None:
    split = Split.of([("a", 90), ("b", 10)])
    picks = [split.pick(None) for _ in range(4000)]
    assert 0.86 < picks.count("a") / len(picks) < 0.94


def test_the_point_of_a_key_is_the_same_in_every_process() -> None:
    """Runners agree, and a restart changes nothing: no per-process hash seed (Python's `hash`)."""
    keys = [b"alice", b"bob", b"", "ключ".encode()]
    here = [key_point(k, 100) for k in keys]
    code = f"from edgehost.rollouts import key_point; print([key_point(k, 100) for k in {keys!r}])"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        assert out.strip() == str(here)


def test_versions_missing_on_a_runner_leave_the_split_to_those_present() -> None:
    split = Split.of([("v1", 30), ("v3", 20)])  # v2 at 50 % is not live here
    assert {split.pick(f"k{n}".encode()) for n in range(200)} == {"v1", "v3"}


@pytest.mark.parametrize(
    ("shares", "field"),
    [
        ([(1, 50), (2, 40)], "shares: the percents sum to 90"),
        ([(1, 50), (1, 50)], "shares[1].version: v1 is listed twice"),
        ([(1, 100), (2, 0)], "shares[1].percent"),
        ([(1, 101), (2, -1)], "shares[0].percent"),
        ([], "shares: name at least one"),
    ],
)
def test_shares_that_are_no_rollout_are_refused_naming_the_field(
    shares: list[tuple[int, int]], field: str
) -> None:
    with pytest.raises(ApiError) as caught:
        check_shares(shares)
    assert caught.value.status == 422
    assert str(caught.value.detail).startswith(field)
