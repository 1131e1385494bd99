"""A CPU budget for a process tree: a child group of the cgroup v1 `cpu` controller with a bandwidth limit.

The group gets `cpu.cfs_quota_us` of CPU time per `cpu.cfs_period_us` (quota / period = the cores
it may use, summed over all its threads on all cores); once a period's quota is spent, its threads
wait for the next period (throttling, counted in `cpu.stat`). See the kernel's
Documentation/scheduler/sched-bwc.rst.

A process joins the group by writing its pid to the group's `cgroup.procs` (which moves all its
threads); what it forks or spawns afterwards starts in the same group. `launcher()` is a command
prefix (`sh -c 'echo $$ > GROUP/cgroup.procs && exec "$@"'`) that joins the group and then execs
the real command, so the process and every worker it spawns are inside before their first
instruction.

Needs root (or a delegated hierarchy) and the v1 `cpu` controller mounted at /sys/fs/cgroup/cpu;
`unavailable()` says why not.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CPU_CONTROLLER = Path("/sys/fs/cgroup/cpu")


@dataclass(frozen=True)
class Throttling:
    """From the group's cpu.stat: enforcement periods that ran, how many hit the quota, time held back."""

    periods: int
    throttled: int
    throttled_s: float

    def __sub__(self, other: Throttling) -> Throttling:
        return Throttling(
            self.periods - other.periods,
            self.throttled - other.throttled,
            self.throttled_s - other.throttled_s,
        )

    def __str__(self) -> str:
        share = self.throttled / self.periods if self.periods else 0.0
        return f"throttled in {share:.0%} of {self.periods} periods, {self.throttled_s:.2f} s held back"


@dataclass(frozen=True)
class Budget:
    path: Path
    cores: float
    period_us: int

    def launcher(self) -> list[str]:
        """A command prefix: the shell joins this group, then execs the arguments that follow."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def pids(self) -> set[int]:
        return {int(line) for line in (self.path / "cgroup.procs").read_text().split()}

    def throttling(self) -> Throttling:
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return Throttling(
            int(stat["nr_periods"]), int(stat["nr_throttled"]), int(stat["throttled_time"]) / 1e9
        )

    def __str__(self) -> str:
        return (
            f"{self.cores:g} CPU ({self.cores * self.period_us / 1000:g} ms per {self.period_us / 1000:g} ms)"
        )


def unavailable() -> str | None:
    """Why a budget cannot be made here, or None when it can."""
    if not (CPU_CONTROLLER / "cpu.cfs_quota_us").exists():
        return f"no cgroup v1 cpu controller at {CPU_CONTROLLER}"
    if not os.access(CPU_CONTROLLER, os.W_OK):
        return f"{CPU_CONTROLLER} is not writable (run as root)"
    return None


@contextmanager
def budget(name: str, cores: float, period_ms: float) -> Iterator[Budget]:
    """A new group limited to `cores` CPUs per period of `period_ms` (1 to 1000 ms, the kernel's range);
    removed on exit, after moving any process still in it back to the parent group.

    Raises OSError when the group cannot be created or its limits written."""
    path = CPU_CONTROLLER / f"edgefn-bench-{os.getpid()}-{name}"
    period_us = round(period_ms * 1000)
    path.mkdir()
    try:
        # The period first: the kernel checks the quota against the period in force.
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(str(round(cores * period_us)))
        yield Budget(path, cores, period_us)
    finally:
        _remove(path)


def _remove(path: Path) -> None:
    """rmdir fails (EBUSY) while the group has members: survivors go to the parent first; processes
    that were just killed can take a moment to leave, hence the retries."""
    for _ in range(50):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                (path.parent / "cgroup.procs").write_text(pid)
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.1)
    path.rmdir()  # the last try raises, naming the group left behind
