"""Gradual rollouts: a function served as several versions at once, each taking a share of requests.

The control plane checks the shares (`check_shares`) and sends them in the desired state; each
runner maps every request onto a version with a `Split`. A request that names a version key
(`x-edgefn-version-key`) is mapped by a hash of that key, the same on every runner and after
every restart, so one client can be kept on one version; any other request picks at random.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from random import randrange
from typing import Generic, TypeVar

from edgehost.errors import ApiError

VERSION_KEY = b"x-edgefn-version-key"
TOTAL = 100  # shares are whole percents

T = TypeVar("T")


def check_shares(shares: Sequence[tuple[int, int]]) -> None:
    """Raises ApiError 422 naming the field (`shares[i].version`, `shares[i].percent`, `shares`) when
    `shares` (version, percent) pairs are no rollout: a version listed twice, a share outside 1..100,
    or shares that do not sum to 100."""
    if not shares:
        raise ApiError(422, "invalid_shares", "shares: name at least one VERSION=PERCENT")
    seen: set[int] = set()
    for i, (version, percent) in enumerate(shares):
        if version in seen:
            raise ApiError(422, "invalid_shares", f"shares[{i}].version: v{version} is listed twice")
        seen.add(version)
        if not 1 <= percent <= TOTAL:
            raise ApiError(
                422, "invalid_shares", f"shares[{i}].percent: v{version}'s share is {percent}, not 1..{TOTAL}"
            )
    total = sum(percent for _, percent in shares)
    if total != TOTAL:
        raise ApiError(422, "invalid_shares", f"shares: the percents sum to {total}, not {TOTAL}")


def key_point(key: bytes, total: int) -> int:
    """Where `key` falls in 0..total-1: BLAKE2b of the key, unkeyed, so every runner agrees."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % total


@dataclass(frozen=True, slots=True)
class Split(Generic[T]):
    """Choices with their cumulative shares, built once per desired state; `pick` is per request.

    With some versions missing (not live on this runner yet) the split is over those present,
    in proportion to their shares.
    """

    choices: tuple[T, ...]
    bounds: tuple[int, ...]  # cumulative shares: choice i takes points bounds[i-1]..bounds[i]-1

    @classmethod
    def of(cls, weighted: Sequence[tuple[T, int]]) -> Split[T]:
        bounds, total = [], 0
        for _, share in weighted:
            total += share
            bounds.append(total)
        return cls(tuple(choice for choice, _ in weighted), tuple(bounds))

    def pick(self, key: bytes | None) -> T:
        """The choice for a version key (stable), or for none (at random, by the shares)."""
        total = self.bounds[-1]
        point = randrange(total) if key is None else key_point(key, total)
        return self.choices[bisect_right(self.bounds, point)]
