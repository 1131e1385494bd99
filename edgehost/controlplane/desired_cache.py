"""Desired states computed once per (revision, UTC day, labels) and shared by every node asking.

What a node should run is a function of its labels and of data that only changes together with
the notifier's revision (deployments, rollbacks, routes, a tenant crossing its daily CPU quota),
plus the UTC day (quota blocks end at midnight). So heartbeats that bring nothing new cost no
query. Entries also expire after `max_age_s`: they carry presigned artifact URLs, which must leave
a runner most of their lifetime to fetch with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

from edgehost.protocol import DesiredState

Key = tuple[int, Hashable]


class DesiredCache:
    """Single-flight: a burst of heartbeats after a deploy computes each key once, not once per node."""

    def __init__(
        self, *, max_age_s: float, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age_s = max_age_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[Key, tuple[float, asyncio.Future[DesiredState]]] = {}
        self._newest = -1

    async def get(
        self, revision: int, key: Hashable, compute: Callable[[], Awaitable[DesiredState]]
    ) -> DesiredState:
        """The state for (revision, key), computing it with `compute` unless a fresh one is cached."""
        if revision > self._newest:  # older revisions will not be asked for again
            self._entries.clear()
            self._newest = revision
        now = self._clock()
        entry = self._entries.get((revision, key))
        if entry is None or now >= entry[0] or _failed(entry[1]):
            entry = (now + self._max_age_s, asyncio.ensure_future(compute()))
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
            if revision == self._newest:
                self._entries[(revision, key)] = entry
        elif entry[1].done():  # the steady state: no shield (a future and callbacks) per heartbeat
            return entry[1].result()
        return await asyncio.shield(entry[1])


def _failed(future: asyncio.Future[DesiredState]) -> bool:
    """A computation that raised is retried by the next caller, not served from the cache."""
    return future.done() and (future.cancelled() or future.exception() is not None)
