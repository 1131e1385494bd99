"""Tail records from ingress workers to the agent through `state_dir/tail` (files, like usage)."""

from __future__ import annotations

from pathlib import Path

from edgehost.runner.tail import TailRelay


def test_workers_follow_the_published_projects_and_their_batches_reach_the_agent_once(tmp_path: Path) -> None:
    agent = TailRelay(tmp_path / "tail")
    agent.reset()
    worker = TailRelay(tmp_path / "tail")
    assert worker.projects() is None  # nothing published: nobody tails
    agent.publish(frozenset({"beta", "alpha"}))
    assert worker.projects() == {"alpha", "beta"}
    assert worker.projects() is None  # unchanged since the last look
    worker.hand_over([{"request_id": "1"}, {"request_id": "2"}])
    worker.hand_over([{"request_id": "3"}])
    assert [r["request_id"] for r in agent.collect()] == ["1", "2", "3"]
    assert agent.collect() == []  # read once, then deleted
    agent.publish(frozenset())
    assert worker.projects() == frozenset()


def test_reset_drops_what_a_previous_run_left(tmp_path: Path) -> None:
    old = TailRelay(tmp_path / "tail")
    old.reset()
    old.hand_over([{"request_id": "stale"}])
    fresh = TailRelay(tmp_path / "tail")
    fresh.reset()
    assert fresh.collect() == []


def test_a_batch_that_cannot_be_read_is_dropped_and_the_rest_arrive(tmp_path: Path) -> None:
    agent = TailRelay(tmp_path / "tail")
    agent.reset()
    (tmp_path / "tail" / "1-1.jsonl").write_bytes(b'{"request_id": "cut')
    TailRelay(tmp_path / "tail").hand_over([{"request_id": "ok"}])
    assert [r["request_id"] for r in agent.collect()] == ["ok"]
    assert list((tmp_path / "tail").glob("*.jsonl")) == []
