"""Tail records from ingress workers to the agent through `state_dir/tail` (files, like usage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from edgehost.runner.tail import TailBuffer, TailRelay


def lines(*records: dict[str, Any]) -> list[bytes]:
    return [msgspec.json.encode(r) for r in records]


def ids(records: list[msgspec.Raw]) -> list[str]:
    return [msgspec.json.decode(r)["request_id"] for r in records]


def test_workers_follow_the_published_projects_and_their_batches_reach_the_agent_once(tmp_path: Path) -> None:
    agent = TailRelay(tmp_path / "tail")
    agent.reset()
    worker = TailRelay(tmp_path / "tail")
    assert worker.projects() is None  # nothing published: nobody tails
    agent.publish(frozenset({"beta", "alpha"}))
    assert worker.projects() == {"alpha", "beta"}
    assert worker.projects() is None  # unchanged since the last look
    worker.hand_over(lines({"request_id": "1"}, {"request_id": "2"}))
    worker.hand_over(lines({"request_id": "3"}))
    assert ids(agent.collect()) == ["1", "2", "3"]
    assert agent.collect() == []  # read once, then deleted
    agent.publish(frozenset())
    assert worker.projects() == frozenset()


def test_reset_drops_what_a_previous_run_left(tmp_path: Path) -> None:
    old = TailRelay(tmp_path / "tail")
    old.reset()
    old.hand_over(lines({"request_id": "stale"}))
    fresh = TailRelay(tmp_path / "tail")
    fresh.reset()
    assert fresh.collect() == []


def test_a_batch_that_cannot_be_read_is_dropped_and_the_rest_arrive(tmp_path: Path) -> None:
    agent = TailRelay(tmp_path / "tail")
    agent.reset()
    (tmp_path / "tail" / "1-1.jsonl").write_bytes(b'{"request_id": "cut')
    TailRelay(tmp_path / "tail").hand_over(lines({"request_id": "ok"}))
    assert ids(agent.collect()) == ["ok"]
    assert list((tmp_path / "tail").glob("*.jsonl")) == []


def test_the_buffer_is_bounded_in_bytes_and_drops_the_oldest_records() -> None:
    buffer = TailBuffer(max_bytes=10_000)
    buffer.projects = frozenset({"p"})
    big = b"x" * 4000  # a record with guest output can be 64 KiB; the count of records says little
    for n in range(5):
        buffer.offer("p", str(n).encode() + big)
    buffer.offer("other", b"never kept")
    assert [line[:1] for line in buffer.records] == [b"3", b"4"]
    assert buffer.size == sum(map(len, buffer.records)) <= 10_000
    assert len(buffer.drain()) == 2
    assert buffer.size == 0


def test_the_agent_collects_at_most_its_budget_per_flush_and_drops_the_rest(tmp_path: Path) -> None:
    agent = TailRelay(tmp_path / "tail")
    agent.reset()
    worker = TailRelay(tmp_path / "tail")
    for n in range(4):
        worker.hand_over(lines({"request_id": str(n), "pad": "x" * 3000}))
    assert ids(agent.collect(max_bytes=6000)) == ["0", "1"]  # the budget is spent by the second batch
    assert list((tmp_path / "tail").glob("*.jsonl")) == []  # the rest is gone, not piling up
