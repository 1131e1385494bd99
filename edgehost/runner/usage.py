"""Guest CPU seconds from the ingress workers to the agent, through files under `runner.state_dir/usage`.

Only the agent talks to the CP, yet the daily CPU quota needs what every worker burned. Each worker
keeps one file, `{pid}.json`, holding its cumulative seconds per tenant since it started, replaced
atomically; the agent reads every file and sends the growth since its last read. Cumulative
totals make the exchange race-free: a read between two writes loses nothing, it only sees the
growth one heartbeat later. A worker that died leaves its last total, which the agent consumes
and then deletes. The agent empties the folder at start, before any worker runs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import psutil

from edgehost.files import write_atomic

log = logging.getLogger("edgefn.runner")

USAGE_DIR = "usage"
_totals = msgspec.json.Decoder(dict[str, float])


def combined(*sources: Callable[[], dict[str, float]]) -> Callable[[], dict[str, float]]:
    """One drain function over several (the agent's own usage and its workers')."""

    def drain() -> dict[str, float]:
        out: dict[str, float] = {}
        for source in sources:
            for tenant, seconds in source().items():
                out[tenant] = out.get(tenant, 0.0) + seconds
        return out

    return drain


class UsageWriter:
    """A worker's side: call `add` with what the node drained, as often as it likes; the file is
    rewritten when the totals grew, at most every WRITE_EVERY_S (the agent reads it per heartbeat)."""

    WRITE_EVERY_S = 0.25

    def __init__(
        self, directory: Path, pid: int | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{pid or os.getpid()}.json"
        self.totals: dict[str, float] = {}
        self._clock = clock
        self._dirty = False
        self._written_at = -math.inf

    def add(self, usage: dict[str, float]) -> None:
        for tenant, seconds in usage.items():
            self.totals[tenant] = self.totals.get(tenant, 0.0) + seconds
            self._dirty = True
        now = self._clock()
        if not self._dirty or now - self._written_at < self.WRITE_EVERY_S:
            return
        write_atomic(self.path, msgspec.json.encode(self.totals), durable=False)  # reset() at start-up
        self._dirty, self._written_at = False, now


class UsageCollector:
    """The agent's side: `drain()` returns the seconds per tenant the workers used since the last call."""

    def __init__(self, directory: Path, *, alive: Callable[[int], bool] = psutil.pid_exists) -> None:
        self.directory = directory
        self._alive = alive
        self._seen: dict[int, dict[str, float]] = {}

    def reset(self) -> None:
        """Start of the node: no worker runs yet, so whatever is there was already counted or is lost."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seen.clear()

    def drain(self) -> dict[str, float]:
        growth: dict[str, float] = {}
        for path in self.directory.glob("*.json"):
            if not path.stem.isdigit():
                continue
            pid = int(path.stem)
            dead = not self._alive(pid)  # decided before reading, so its final write is in what we read
            try:
                totals = _totals.decode(path.read_bytes())
            except (OSError, msgspec.DecodeError) as exc:
                log.warning("skipping unreadable usage file %s: %s", path, exc)
                continue
            seen = self._seen.setdefault(pid, {})
            for tenant, total in totals.items():
                delta = total - seen.get(tenant, 0.0)
                if delta > 0:
                    growth[tenant] = growth.get(tenant, 0.0) + delta
                    seen[tenant] = total
            if dead:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                self._seen.pop(pid, None)
        return growth
