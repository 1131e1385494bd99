"""Guest CPU seconds from worker files to the agent: growth only, nothing twice, dead workers cleaned."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edgehost.runner.usage import UsageCollector, UsageWriter, combined


def spaced() -> Callable[[], float]:
    """A clock for which every `add` comes an interval after the last, so each may write."""
    times = itertools.count(step=UsageWriter.WRITE_EVERY_S)
    return lambda: float(next(times))


def test_collector_sends_growth_once_and_sums_workers(tmp_path: Path) -> None:
    alive = {1, 2}
    collector = UsageCollector(tmp_path, alive=lambda pid: pid in alive)
    one, two = UsageWriter(tmp_path, pid=1, clock=spaced()), UsageWriter(tmp_path, pid=2, clock=spaced())
    one.add({"a": 1.5})
    two.add({"a": 0.5, "b": 2.0})
    assert collector.drain() == {"a": 2.0, "b": 2.0}
    assert collector.drain() == {}
    one.add({"a": 0.25})
    one.add({})  # nothing used: the file is left alone
    assert collector.drain() == pytest.approx({"a": 0.25})


def test_a_dead_workers_last_total_is_consumed_then_its_file_removed(tmp_path: Path) -> None:
    alive = {7}
    collector = UsageCollector(tmp_path, alive=lambda pid: pid in alive)
    worker = UsageWriter(tmp_path, pid=7, clock=spaced())
    worker.add({"a": 1.0})
    assert collector.drain() == {"a": 1.0}
    worker.add({"a": 3.0})
    alive.clear()
    assert collector.drain() == {"a": 3.0}
    assert not worker.path.exists()
    assert collector.drain() == {}


def test_reset_forgets_a_previous_runs_files(tmp_path: Path) -> None:
    UsageWriter(tmp_path / "usage", pid=3).add({"a": 9.0})
    collector = UsageCollector(tmp_path / "usage", alive=lambda pid: True)
    collector.reset()
    assert collector.drain() == {}


def test_combined_adds_sources() -> None:
    drain = combined(lambda: {"a": 1.0}, lambda: {"a": 2.0, "b": 1.0})
    assert drain() == {"a": 3.0, "b": 1.0}


def test_a_worker_rewrites_its_file_at_most_every_interval_and_never_loses_the_last_growth(
    tmp_path: Path,
) -> None:
    now = [100.0]
    worker = UsageWriter(tmp_path, pid=5, clock=lambda: now[0])
    worker.add({"a": 1.0})
    assert json.loads(worker.path.read_bytes()) == {"a": 1.0}
    worker.add({"a": 2.0})  # polled again at once: not rewritten yet
    assert json.loads(worker.path.read_bytes()) == {"a": 1.0}
    now[0] += UsageWriter.WRITE_EVERY_S
    worker.add({})  # the load stopped: what grew is still written
    assert json.loads(worker.path.read_bytes()) == {"a": 3.0}
