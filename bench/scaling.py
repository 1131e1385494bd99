"""Two ingress workers against one, edgefn and the raw ASGI floor alike.

Two real clusters (`edgefn serve`: a CP and one runner each, bench/cluster.py), the hello project
deployed to both; the runners differ only in `runner.workers` (1: agent and ingress in one
process; 2: two granian worker processes and the agent). wrk with two threads loads them, and the
raw ASGI baselines below, in alternated rounds. After the rounds, a known load is checked against
the two-worker runner's /metrics: the invocations it counted across its workers against the
answers wrk received (at most the connections' in-flight requests apart, never fewer).

Beside them, in the same alternated rounds, the floor they run on: the raw ASGI callable
(bench/baseline_app.py) served as each runner serves its ingress, granian's embedded Server in one
process for one worker, granian's MPServer spawning two worker processes for two, with the same
granian options. Its ratio is what two granian workers gain on this machine with no edgefn in
them: edgefn's ratio divided by it says whether the runner scales as well as its floor (1.0) or
loses more to its second worker, and the note of the goal's row gives it so the reader sees
whether the machine or the runner stands in the way.

Tail latency at 80 % of peak, the issue's other goal, is bench/tail_latency.py's, beside the same
floor.

Every round records the cores in use (CPU seconds per wall second) by the server's process tree,
by wrk and by the whole machine (/proc/stat). On a 2-core machine a one-worker runner can use more
than one core (its event loop plus granian's Rust threads, which run outside the GIL) and wrk
needs a share of the rest: when the one-worker round leaves no core idle, the two-worker round has
nothing more to use, and the ratio measures the machine, not the runner. The row says so, and its
goal is then not judged.

`--budget CORES` measures scaling with cores on such a machine instead. Each runner's whole
process tree (agent and every worker), and each raw ASGI baseline's, runs in a cgroup v1 `cpu`
group with a CFS bandwidth limit (bench/cpu_budget.py) of CORES per ingress worker: one worker in
CORES, two workers in 2 x CORES, wrk outside the groups with the rest of the machine. The ratio is
then what a second budget buys, the proxy for a second core. Each server joins its group through a
launcher before its first instruction, so the granian workers it spawns start inside it; the bench
checks that every process of each server is a member. `cpuset` (pinning to cores) cannot do this
on 2 cores: one worker on cpu 0 and wrk on cpu 1 fits, but two workers on two cores plus wrk need
a third; a bandwidth limit divides the cores in fractions instead.

What the proxy shows: how much more the runner serves with twice the CPU time, after what its
workers cost each other (the agent, the shared listening socket, a Python per process). What it does
not show: a budget is a share of time on both cores, not a core of one's own, so caches and memory
bandwidth are shared with wrk and the rest of the box, and a real second core may scale better or
worse. Throttling is coarse: a group that spends its period's quota early waits for the next period,
up to period - quota, which adds latency; and the kernel hands quota to each core in slices of
sched_cfs_bandwidth_slice_us (5 ms by default), so with a 10 ms period a half-CPU group's 5 ms quota
is a single slice, taken by whichever core asks first. The period (`--period-ms`, 20 by default)
trades the two: the kernel's default 100 ms would stall a half-CPU group for up to 50 ms at a time,
many requests long. Each run reports how many periods were throttled, and each server whether it
used its budget: if it did not, something else (wrk, the machine) was the limit, and the goal is not
judged.

Run: .venv/bin/python -m bench.scaling [--rounds 3] [--seconds 5] [--budget 0.5 [--period-ms 20]]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench import cpu_budget, servers
from bench.cluster import cluster
from bench.common import Row, machine, median, say, table
from bench.cpu_budget import Budget, Throttling
from bench.ingress import Cores, Round, alternate
from bench.loadgen import load
from bench.propagation import deploy, until_serving
from tests.observability.metrics_text import sample

GOAL_SCALING = 1.7
CONNECTIONS = 32
FOLD_WAIT_S = 1.5  # past plugins/metrics.py's Tallies.FOLD_S, so every worker has folded its counts
SATURATED_IDLE = 0.1  # of a core, per core: less idle than this in a round and the machine was the limit
USED_BUDGET = 0.9  # a runner that used less of its budget than this was held back by something else


EDGEFN = "edgefn"
RAW = "raw ASGI"


@dataclass
class Server:
    """A server under test: one cluster's runner or a raw ASGI baseline, and its CPU budget in --budget
    mode."""

    name: str
    url: str
    pid: int
    budget: Budget | None = None
    metrics: str | None = None  # the runner's /metrics; the baseline has none


def counted(metrics_url: str) -> float:
    text = httpx.get(metrics_url, timeout=10).text
    return sample(text, "wasm_invoke_count_total", function_id="demo.hello") or 0.0


def budgeted(
    stack: ExitStack, kind: str, workers: int, per_worker: float | None, period_ms: float
) -> tuple[str, Budget | None]:
    """The server's name, and with `per_worker` a CPU budget of `workers` x `per_worker` cores for it."""
    name = f"{kind}, {workers} worker{'s' if workers > 1 else ''}"
    if per_worker is None:
        return name, None
    tag = f"{kind.replace(' ', '-')}-w{workers}"
    budget = stack.enter_context(cpu_budget.budget(tag, workers * per_worker, period_ms))
    return f"{name} in {budget.cores:g} CPU", budget


def start_edgefn(
    stack: ExitStack, root: Path, project: Path, workers: int, per_worker: float | None, period_ms: float
) -> Server:
    """A cluster whose runner has `workers` ingress workers, with the hello project deployed."""
    name, budget = budgeted(stack, EDGEFN, workers, per_worker, period_ms)
    env = {**servers.NO_RATE_LIMIT, "EDGEFN_RUNNER__WORKERS": str(workers)}
    prefix = budget.launcher() if budget else None
    c = stack.enter_context(
        cluster(root / f"w{workers}", runners=1, env=env, interval_s=1.0, runner_prefix=prefix)
    )
    deploy(project, c.api, c.token)
    return Server(name, f"{c.ingress[0]}/hello", c.runners[0].proc.pid, budget, c.metrics[0])


def start_raw(
    stack: ExitStack, logs: Path, workers: int, per_worker: float | None, period_ms: float
) -> Server:
    """The raw ASGI callable in `workers` granian workers, served as a runner with as many serves."""
    name, budget = budgeted(stack, RAW, workers, per_worker, period_ms)
    prefix = budget.launcher() if budget else None
    target = stack.enter_context(servers.baseline(logs, "asgi", workers, prefix))
    return Server(name, target.url, target.pid, budget)


def check_members(server: Server) -> None:
    """Every process of the server's tree in its budget's group (raises AssertionError if not)."""
    if server.budget is None:
        return
    tree = psutil.Process(server.pid)
    pids = {server.pid, *(p.pid for p in tree.children(recursive=True))}
    outside = pids - server.budget.pids()
    assert not outside, f"{server.name}: processes {sorted(outside)} are not in {server.budget.path}"
    say(f"scaling: {server.name}: all {len(pids)} processes of the server in its group, {server.budget}")


def cores_row(server: Server, rounds: list[Round]) -> Row:
    """The cores the server, wrk and the whole machine used in the server's rounds (medians)."""
    used = (median([getattr(r.cores, k) for r in rounds]) for k in ("server", "client", "machine"))
    cores = Cores(*used, rounds[0].cores.total)
    note = f"wrk {cores.client:.2f} cores, others {cores.others:.2f}, {cores.idle:.2f} of {cores.total} idle"
    if server.budget is not None:
        note += f"; used {cores.server / server.budget.cores:.0%} of its {server.budget}"
    return Row(
        "scaling",
        f"{server.name}: cores used by the server",
        cores.server,
        "cores",
        cores.machine,
        "machine busy",
        note=note,
    )


def rps(server: Server, results: dict[str, list[Round]]) -> float:
    return median([r.load.rps for r in results[server.name]])


def ratio(one: Server, two: Server, results: dict[str, list[Round]]) -> float:
    """Requests/s of two workers over one (medians of the rounds)."""
    return rps(two, results) / rps(one, results)


def scaling_row(
    one: Server,
    two: Server,
    results: dict[str, list[Round]],
    throttled: dict[str, Throttling],
    floor: float | None = None,
) -> Row:
    """Requests/s of two workers against one. With `floor` (the raw ASGI baseline's ratio), edgefn's
    row: it carries the goal, not judged where the figure is not the runner's, and the floor beside it."""
    rounds = len(results[one.name])
    notes = [f"wrk -t2 -c{CONNECTIONS}, {rounds} rounds"]
    if floor is not None:
        notes.append(f"{RAW} scales {floor:.2f} x here")
    judged = True
    idle = median([r.cores.idle / r.cores.total for r in results[one.name]])
    if one.budget is None and idle < SATURATED_IDLE:
        notes.append("machine saturated: the ratio measures the machine, not the server")
        judged = False
    for server in (one, two):
        if server.budget is None:
            continue
        notes.append(f"{server.name}: {throttled[server.name]}")
        used = median([r.cores.server for r in results[server.name]]) / server.budget.cores
        if used < USED_BUDGET:
            notes.append(f"{server.name} used only {used:.0%} of its budget: not the server's limit")
            judged = False
    return Row(
        "scaling",
        f"{two.name}: requests/s",
        rps(two, results),
        "req/s",
        rps(one, results),
        one.name,
        f">= {GOAL_SCALING} x" if floor is not None else "",
        ratio(one, two, results) >= GOAL_SCALING if judged and floor is not None else None,
        note="; ".join(notes),
    )


def cpu_row(one: Server, two: Server, results: dict[str, list[Round]]) -> Row:
    """Server CPU time per request with two workers against one (all processes, medians of the rounds)."""
    cpu = {s.name: median([r.cpu_us for r in results[s.name]]) for s in (one, two)}
    return Row("scaling", f"{two.name}: CPU per request", cpu[two.name], "µs", cpu[one.name], one.name)


def floor_row(edgefn: float, raw: float) -> Row:
    """edgefn's 2-worker/1-worker ratio over the raw ASGI baseline's: 1.0, it scales as well as the
    floor it runs on; below, its second worker costs it more than granian's costs the baseline."""
    return Row(
        "scaling",
        f"{EDGEFN}: 2 workers / 1 worker",
        edgefn,
        "x",
        raw,
        f"{RAW}'s",
        note="ratio: edgefn's over the floor's (1.0 = edgefn scales as well as the floor it runs on)",
    )


def metrics_row(runner: Server, seconds: float) -> Row:
    """A known load, then what the agent's /metrics counted of it across the workers."""
    assert runner.metrics is not None, f"{runner.name} has no /metrics"
    time.sleep(FOLD_WAIT_S)  # the rounds' last counts folded first
    before = counted(runner.metrics)
    result = load(runner.url, seconds, CONNECTIONS, threads=2)
    time.sleep(FOLD_WAIT_S)
    got = counted(runner.metrics) - before
    exact = result.requests <= got <= result.requests + CONNECTIONS
    say(f"scaling: {runner.name} counted {got:.0f} invocations for {result.requests} answers received by wrk")
    return Row(
        "scaling",
        f"{runner.name}: invocations counted in /metrics",
        got,
        "",
        result.requests,
        "answers wrk received",
        f"within +{CONNECTIONS} in flight",
        exact,
        note="one scrape of the agent",
    )


def run(
    rounds: int = 3, seconds: float = 5.0, per_worker: float | None = None, period_ms: float = 20.0
) -> list[Row]:
    """The rows; with `per_worker` (cores), in --budget mode, or [] when budgets cannot be made here."""
    if per_worker is not None and (why := cpu_budget.unavailable()):
        say(f"scaling: --budget skipped: {why}")
        return []
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-scaling-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        one, two = (start_edgefn(stack, root, project, w, per_worker, period_ms) for w in (1, 2))
        raw_one, raw_two = (start_raw(stack, root / "logs", w, per_worker, period_ms) for w in (1, 2))
        every = (one, two, raw_one, raw_two)
        seen = asyncio.run(until_serving([s.url for s in every], "Hello from edgefn!", 60))
        assert all(s == s for s in seen), f"a server never served the hello answer: {seen}"  # nan: never
        for server in every:
            check_members(server)

        before = {s.name: s.budget.throttling() for s in every if s.budget}
        targets = {s.name: servers.Target(s.url, s.pid) for s in every}
        results = alternate(targets, rounds, seconds, CONNECTIONS, threads=2)
        throttled = {s.name: s.budget.throttling() - before[s.name] for s in every if s.budget}
        edgefn, raw = ratio(one, two, results), ratio(raw_one, raw_two, results)
        rows = [
            scaling_row(one, two, results, throttled, floor=raw),
            scaling_row(raw_one, raw_two, results, throttled),
            floor_row(edgefn, raw),
            cpu_row(one, two, results),
            cpu_row(raw_one, raw_two, results),
            *(cores_row(s, results[s.name]) for s in every),
            metrics_row(two, seconds),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="CORES",
        help="CPU budget per ingress worker (cgroup v1 cpu)",
    )
    parser.add_argument(
        "--period-ms", type=float, default=20.0, help="the budget's CFS period (1 to 1000 ms)"
    )
    args = parser.parse_args()
    rows = run(args.rounds, args.seconds, args.budget, args.period_ms)
    print(f"machine: {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
