"""bench/cpu_budget.py: a process started through a budget's launcher, and what it spawns, run inside the
group under its quota, and the group is gone afterwards even while they still run. Needs a writable
cgroup v1 `cpu` controller (root); skipped elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from bench import cpu_budget

pytestmark = pytest.mark.skipif(cpu_budget.unavailable() is not None, reason=str(cpu_budget.unavailable()))


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, each in a new session: killed with their process group at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def cpu_group(pid: int) -> str:
    """The process's path in the v1 cpu hierarchy, from /proc/PID/cgroup (`ID:cpu:/path`)."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next(line.split(":", 2)[2] for line in lines if line.split(":", 2)[1] == "cpu")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def test_the_launched_process_and_its_children_are_in_the_group_which_is_removed_after(
    started: list[subprocess.Popen[bytes]],
) -> None:
    with cpu_budget.budget("test", 0.25, 10) as budget:
        assert (budget.path / "cpu.cfs_period_us").read_text().strip() == "10000"
        assert (budget.path / "cpu.cfs_quota_us").read_text().strip() == "2500"
        shell = subprocess.Popen([*budget.launcher(), "sh", "-c", "sleep 30 & wait"], start_new_session=True)
        started.append(shell)
        while not children(shell.pid):
            time.sleep(0.01)
        sleeper = children(shell.pid)[0]
        assert {shell.pid, sleeper} <= budget.pids()
        assert cpu_group(sleeper) == f"/{budget.path.name}"
    assert not budget.path.exists()
    assert cpu_group(sleeper) == "/"  # moved back to the parent, still running


def test_a_busy_process_is_throttled_to_its_quota(started: list[subprocess.Popen[bytes]]) -> None:
    with cpu_budget.budget("busy", 0.1, 10) as budget:
        busy = subprocess.Popen(
            [*budget.launcher(), "sh", "-c", "while :; do :; done"], start_new_session=True
        )
        started.append(busy)
        before = budget.throttling()
        time.sleep(0.3)
        spent = budget.throttling() - before
        assert spent.throttled > 0 and spent.throttled_s > 0
        os.killpg(busy.pid, signal.SIGKILL)
        busy.wait(5)
