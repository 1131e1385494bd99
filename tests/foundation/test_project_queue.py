"""Registration checks (a component's compile: seconds of CPU) run on their own bounded threads,
one at a time per project: a tenant finalizing many versions at once neither takes the threads
the control plane's other work needs nor makes another tenant wait behind all of its checks."""

from __future__ import annotations

import asyncio
import threading

from edgehost.project_queue import ProjectQueue

HANG_S = 30  # only a hang hits this: every check below finishes as soon as it is released


class Gate:
    """Checks that block until released, recording the order they started in."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()
        self.release = threading.Event()

    def check(self, name: str) -> str:
        with self._lock:
            self.started.append(name)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.release.wait(HANG_S)
        with self._lock:
            self.running -= 1
        return name


async def _until_started(gate: Gate, count: int) -> None:
    while len(gate.started) < count:
        await asyncio.sleep(0.01)


async def test_one_project_many_checks_does_not_queue_another_project_behind_all_of_them() -> None:
    queue = ProjectQueue(1, "edgefn-check")
    gate = Gate()
    try:
        greedy = [asyncio.create_task(queue.run("greedy", gate.check, f"greedy-{i}")) for i in range(4)]
        await asyncio.wait_for(_until_started(gate, 1), HANG_S)
        other = asyncio.create_task(queue.run("other", gate.check, "other-0"))
        await asyncio.sleep(0.05)  # other's check is queued now
        gate.release.set()
        results = await asyncio.wait_for(asyncio.gather(*greedy, other), HANG_S)
    finally:
        gate.release.set()
        queue.close()
    assert results == ["greedy-0", "greedy-1", "greedy-2", "greedy-3", "other-0"]
    assert gate.started.index("other-0") == 1, gate.started  # right after the check in progress
    assert gate.most_running == 1


async def test_checks_leave_the_event_loops_threads_free() -> None:
    queue = ProjectQueue(2, "edgefn-check")
    gate = Gate()
    try:
        checks = [asyncio.create_task(queue.run(f"tenant-{i}", gate.check, str(i))) for i in range(12)]
        await asyncio.wait_for(_until_started(gate, 2), HANG_S)
        # An artifact read, a KV call or a route check meanwhile: the loop's default threads.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "served"), HANG_S) == "served"
        gate.release.set()
        await asyncio.wait_for(asyncio.gather(*checks), HANG_S)
    finally:
        gate.release.set()
        queue.close()
    assert gate.most_running == 2
    assert sorted(gate.started, key=int) == [str(i) for i in range(12)]


async def test_a_failed_check_raises_and_frees_its_project() -> None:
    queue = ProjectQueue(1, "edgefn-check")

    def refuse() -> None:
        raise ValueError("refused")

    try:
        try:
            await queue.run("p", refuse)
        except ValueError as exc:
            assert str(exc) == "refused"
        else:
            raise AssertionError("the check's error was lost")
        assert await asyncio.wait_for(queue.run("p", lambda: "next"), HANG_S) == "next"
    finally:
        queue.close()
