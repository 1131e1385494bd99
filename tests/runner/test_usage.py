"""Guest CPU seconds from worker files to the agent: growth only, nothing twice, dead workers cleaned."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgehost.runner.usage import UsageCollector, UsageWriter, combined


def test_collector_sends_growth_once_and_sums_workers(tmp_path: Path) -> None:
    alive = {1, 2}
    collector = UsageCollector(tmp_path, alive=lambda pid: pid in alive)
    one, two = UsageWriter(tmp_path, pid=1), UsageWriter(tmp_path, pid=2)
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
    worker = UsageWriter(tmp_path, pid=7)
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
