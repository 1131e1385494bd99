"""Ingress throughput of the hello guest through `edgefn dev` beside its baselines, in one run.

The baselines answer what the guest answers with as little as each layer allows: a raw ASGI
callable and a raw RSGI callable on the same granian (the floor of a Python ingress), a bare
Litestar handler (bench/baseline_app.py), and workerd running the same wasm guest
(bench/workerd/; installed from the npm registry by bench/run.sh). All get the same load (wrk
-t1 -c32), one worker each; rounds alternate between the servers so load from other processes on
the box hits all alike, and the medians of the rounds and their ratios are reported.

Each round also records the server's CPU time per request (user + system, all threads and child
processes): on a shared machine requests/s moves with whatever else runs,
while CPU per request is what a dedicated core would pay, so its ratio is the steadier estimate of
throughput per core. It also records the cores in use during the round (CPU seconds per wall
second) by the server, by the load generator and by the whole machine (/proc/stat), which tell
whether the server or the machine was the limit.

`--before REV` adds edgefn as of git revision REV (unpacked with `git archive`, run with this
venv) to the same rounds: a change's before and after side by side.

Run: .venv/bin/python -m bench.ingress [--rounds 5] [--seconds 5] [--before REV]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import servers
from bench.common import EDGEFN, REPO, Row, machine, median, say, table
from bench.loadgen import LoadResult, load
from tests.procs import DevServer, serving

GOAL = 0.8  # of bare Litestar's throughput (the ingress hardening's goal)
GOAL_RAW = 0.5  # of the raw ASGI callable's (the performance issue's goal)
CONNECTIONS = 32


@dataclass
class Cores:
    """Cores in use over an interval: CPU seconds per wall second (1.0 = one core kept busy)."""

    server: float  # the server's process and its children (all of a runner's workers)
    client: float  # the load generator: wrk (a child of this process) plus this process
    machine: float  # every process on the box, from /proc/stat
    total: int  # the machine's cores

    @property
    def idle(self) -> float:
        return self.total - self.machine

    @property
    def others(self) -> float:
        """Everything else that ran: other servers of the bench, other users of the box, the kernel."""
        return self.machine - self.server - self.client

    def __str__(self) -> str:
        return (
            f"cores used: server {self.server:.2f}, client {self.client:.2f}, others {self.others:.2f}, "
            f"machine {self.machine:.2f} of {self.total} ({self.idle:.2f} idle)"
        )


@dataclass
class Round:
    load: LoadResult
    cpu_us: float  # server CPU time per request
    cores: Cores  # in use during the round


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot, from the `cpu` line of /proc/stat (proc(5)):
    user nice system idle iowait irq softirq steal; idle and iowait are not busy, steal (taken by the
    hypervisor) counts as busy since this machine could not use it. guest is already inside user."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


@dataclass
class Usage:
    """A snapshot of CPU seconds to difference: `Usage.now(pid)` before and after a round."""

    wall: float
    server: float
    client: float
    busy: int
    ticks: int

    @classmethod
    def now(cls, pid: int) -> Usage:
        client = 0.0
        for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF):  # wrk counts once it is waited for
            usage = resource.getrusage(who)
            client += usage.ru_utime + usage.ru_stime
        busy, ticks = machine_ticks()
        return cls(time.monotonic(), cpu_seconds(pid), client, busy, ticks)

    def cores_since(self, before: Usage) -> Cores:
        wall = self.wall - before.wall
        total = os.cpu_count() or 1
        machine = total * (self.busy - before.busy) / max(1, self.ticks - before.ticks)
        return Cores(
            (self.server - before.server) / wall, (self.client - before.client) / wall, machine, total
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and of its live children (a multi-worker runner's workers)."""
    process = psutil.Process(pid)
    total = 0.0
    for proc in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def measure(target: servers.Target, seconds: float, connections: int, threads: int = 1) -> Round:
    before = Usage.now(target.pid)
    result = load(target.url, seconds, connections, threads)
    after = Usage.now(target.pid)
    spent = after.server - before.server
    return Round(result, spent / max(1, result.requests) * 1e6, after.cores_since(before))


def alternate(
    targets: dict[str, servers.Target], rounds: int, seconds: float, connections: int, threads: int = 1
) -> dict[str, list[Round]]:
    results: dict[str, list[Round]] = {name: [] for name in targets}
    for target in targets.values():  # warm-up: pools filled, code paths hot
        load(target.url, 1.0, connections, threads)
    for i in range(rounds):
        order = list(targets.items()) if i % 2 == 0 else list(reversed(targets.items()))
        for name, target in order:
            measured = measure(target, seconds, connections, threads)
            results[name].append(measured)
            result = measured.load
            say(
                f"ingress round {i + 1}/{rounds} {name}: {result.rps:,.0f} req/s p50 {result.p50_ms:.2f} ms "
                f"p99 {result.p99_ms:.2f} ms, {measured.cpu_us:.0f} µs CPU/request, "
                f"non-2xx {result.non_2xx} errors {result.errors}; {measured.cores}"
            )
    return results


def rows_for(results: dict[str, list[Round]], connections: int) -> list[Row]:
    """Per server: requests/s and requests per CPU-second against the raw ASGI callable's; edgefn's
    goals against raw ASGI and bare Litestar; p50/p99 latency."""
    rps = {name: median([r.load.rps for r in rounds]) for name, rounds in results.items()}
    cpu = {name: median([r.cpu_us for r in rounds]) for name, rounds in results.items()}
    note = f"wrk -t1 -c{connections}, {len(results['edgefn'])} rounds"
    rows: list[Row] = []
    for name in results:
        bad = sum(r.load.non_2xx + r.load.errors for r in results[name])
        extra = f", {bad} non-2xx/errors" if bad else ""
        goal, met = "", None
        if name == "edgefn":
            goal, met = f">= {GOAL_RAW} x", rps[name] / rps["asgi"] >= GOAL_RAW
        rows.append(
            Row(
                "ingress",
                f"{name}: requests/s",
                rps[name],
                "req/s",
                rps["asgi"],
                "raw ASGI",
                goal,
                met,
                note=note + extra,
            )
        )
        if name == "edgefn":
            met = cpu["asgi"] / cpu[name] >= GOAL_RAW
        rows.append(
            Row(
                "ingress",
                f"{name}: requests per CPU-second",
                1e6 / cpu[name],
                "req/s",
                1e6 / cpu["asgi"],
                "raw ASGI",
                goal,
                met,
                note=f"{cpu[name]:.0f} µs server CPU per request",
            )
        )
    rows.append(
        Row(
            "ingress",
            "edgefn: requests per CPU-second",
            1e6 / cpu["edgefn"],
            "req/s",
            1e6 / cpu["litestar"],
            "bare Litestar",
            f">= {GOAL} x",
            cpu["litestar"] / cpu["edgefn"] >= GOAL,
        )
    )
    for label, attr in (("p50", "p50_ms"), ("p99", "p99_ms")):
        for name in results:
            value = median([getattr(r.load, attr) for r in results[name]])
            base = median([getattr(r.load, attr) for r in results["asgi"]])
            rows.append(Row("ingress", f"{name}: {label} latency", value, "ms", base, "raw ASGI", note=note))
    return rows


@contextmanager
def edgefn_at(rev: str, root: Path) -> Iterator[DevServer]:
    """`edgefn dev` of the tree at git revision `rev`, run by this venv's interpreter."""
    tree = root / f"tree-{rev}"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    project = servers.copy_example(root / f"project-{rev}")
    env = {"PYTHONPATH": f"{tree}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with serving(DevServer(project, root / "logs", {**servers.NO_RATE_LIMIT, **env}, command=EDGEFN)) as dev:
        yield dev


def run(
    rounds: int = 5, seconds: float = 5.0, connections: int = CONNECTIONS, before: str | None = None
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-ingress-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        logs = root / "logs"
        dev = stack.enter_context(servers.dev(servers.copy_example(root / "project"), logs))
        targets = {"edgefn": servers.Target(f"{dev.ingress}/hello", dev.proc.pid)}
        if before:
            old = stack.enter_context(edgefn_at(before, root))
            targets[f"edgefn@{before}"] = servers.Target(f"{old.ingress}/hello", old.proc.pid)
        for kind in ("asgi", "rsgi", "litestar"):
            targets[kind] = stack.enter_context(servers.baseline(logs, kind))
        if servers.workerd_binary() is not None:
            targets["workerd"] = stack.enter_context(servers.workerd(logs, root / "workerd"))
        else:
            say("workerd is not installed (bench/run.sh installs it with npm): its baseline is left out")
        return rows_for(alternate(targets, rounds, seconds, connections), connections)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--before", default=None, help="also run edgefn as of this git revision")
    args = parser.parse_args()
    rows = run(args.rounds, args.seconds, before=args.before)
    print(f"machine: {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
