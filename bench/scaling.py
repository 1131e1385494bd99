"""A runner with two ingress workers against one, and latency at 80 % of the peak throughput.

Two real clusters (`edgefn serve`: a CP and one runner each, bench/cluster.py), the hello project
deployed to both; the runners differ only in `runner.workers` (1: agent and ingress in one
process; 2: two granian worker processes and the agent). wrk with two threads loads them in
alternated rounds. After the rounds, a known load is checked against the two-worker runner's
/metrics: the invocations it counted across its workers against the answers wrk received (at
most the connections' in-flight requests apart, never fewer).

Then the one-worker runner gets 80 % of its measured peak at a steady rate (wrk paced by
bench/wrk_pacing.lua, and the fixed-rate Python client, which times queueing from each
request's due time), and p99 is compared with p50.

Every round records the cores in use (CPU seconds per wall second) by the runner's process tree,
by wrk and by the whole machine (/proc/stat). On a 2-core machine a one-worker runner can use more
than one core (its event loop plus granian's Rust threads, which run outside the GIL) and wrk
needs a share of the rest: when the one-worker round leaves no core idle, the two-worker round has
nothing more to use, and the ratio measures the machine, not the runner. The row says so, and its
goal is then not judged.

`--budget CORES` measures scaling with cores on such a machine instead. Each runner's whole
process tree (agent and every worker) runs in a cgroup v1 `cpu` group with a CFS bandwidth limit
(bench/cpu_budget.py) of CORES per ingress worker: one worker in CORES, two workers in 2 x CORES,
wrk outside the groups with the rest of the machine. The ratio is then what a second budget buys,
the proxy for a second core. The runner joins its group through a launcher before its first
instruction, so the granian workers it spawns start inside it; the bench checks that every process
of the runner is a member. `cpuset` (pinning to cores) cannot do this on 2 cores: one worker on cpu
0 and wrk on cpu 1 fits, but two workers on two cores plus wrk need a third; a bandwidth limit
divides the cores in fractions instead.

What the proxy shows: how much more the runner serves with twice the CPU time, after what its
workers cost each other (the agent, the shared listening socket, a Python per process). What it
does not show: a budget is a share of time on both cores, not a core of one's own, so caches and
memory bandwidth are shared with wrk and the rest of the box, and a real second core may scale
better or worse. Throttling is coarse: a group that spends its period's quota early waits for the
next period, up to period - quota, which adds latency (so the latency part does not run in this
mode); and the kernel hands quota to each core in slices of sched_cfs_bandwidth_slice_us (5 ms by
default), so with a 10 ms period a half-CPU group's 5 ms quota is a single slice, taken by
whichever core asks first. The period (`--period-ms`, 20 by default) trades the two: the kernel's
default 100 ms would stall a half-CPU group for up to 50 ms at a time, many requests long. Each run
reports how many periods were throttled, and each runner whether it used its budget: if it did not,
something else (wrk, the machine) was the limit, and the goal is not judged.

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
from bench.loadgen import load, open_loop, paced
from bench.propagation import deploy, until_serving
from tests.observability.metrics_text import sample

GOAL_SCALING = 1.7
GOAL_TAIL = 2.0
SHARE = 0.8
CONNECTIONS = 32
LATE_SHARE = 0.01  # more requests than this sent a period late: the client could not keep the rate
FOLD_WAIT_S = 1.5  # past plugins/metrics.py's Tallies.FOLD_S, so every worker has folded its counts
SATURATED_IDLE = 0.1  # of a core, per core: less idle than this in a round and the machine was the limit
USED_BUDGET = 0.9  # a runner that used less of its budget than this was held back by something else


@dataclass
class Runner:
    """One cluster's runner under test, and its CPU budget in --budget mode."""

    name: str
    url: str
    metrics: str
    pid: int
    budget: Budget | None = None


def counted(metrics_url: str) -> float:
    text = httpx.get(metrics_url, timeout=10).text
    return sample(text, "wasm_invoke_count_total", function_id="demo.hello") or 0.0


def start(
    stack: ExitStack, root: Path, project: Path, workers: int, per_worker: float | None, period_ms: float
) -> Runner:
    """A cluster whose runner has `workers` ingress workers, with the hello project deployed; with
    `per_worker`, the runner runs in a CPU budget of `workers` x `per_worker` cores."""
    name = f"{workers} worker{'s' if workers > 1 else ''}"
    budget = None
    if per_worker is not None:
        budget = stack.enter_context(cpu_budget.budget(f"w{workers}", workers * per_worker, period_ms))
        name += f" in {budget.cores:g} CPU"
    env = {**servers.NO_RATE_LIMIT, "EDGEFN_RUNNER__WORKERS": str(workers)}
    prefix = budget.launcher() if budget else None
    c = stack.enter_context(
        cluster(root / f"w{workers}", runners=1, env=env, interval_s=1.0, runner_prefix=prefix)
    )
    deploy(project, c.api, c.token)
    return Runner(name, f"{c.ingress[0]}/hello", c.metrics[0], c.runners[0].proc.pid, budget)


def check_members(runner: Runner) -> None:
    """Every process of the runner's tree in its budget's group (raises AssertionError if not)."""
    if runner.budget is None:
        return
    tree = psutil.Process(runner.pid)
    pids = {runner.pid, *(p.pid for p in tree.children(recursive=True))}
    outside = pids - runner.budget.pids()
    assert not outside, f"{runner.name}: processes {sorted(outside)} are not in {runner.budget.path}"
    say(f"scaling: {runner.name}: all {len(pids)} processes of the runner in its group, {runner.budget}")


def cores_row(runner: Runner, rounds: list[Round]) -> Row:
    """The cores the runner, wrk and the whole machine used in the runner's rounds (medians)."""
    server, client, machine_busy = (
        median([getattr(r.cores, k) for r in rounds]) for k in ("server", "client", "machine")
    )
    cores = Cores(server, client, machine_busy, rounds[0].cores.total)
    note = f"wrk {cores.client:.2f} cores, others {cores.others:.2f}, {cores.idle:.2f} of {cores.total} idle"
    if runner.budget is not None:
        note += f"; runner used {cores.server / runner.budget.cores:.0%} of its {runner.budget}"
    return Row(
        "scaling",
        f"{runner.name}: cores used by the runner",
        cores.server,
        "cores",
        cores.machine,
        "machine busy",
        note=note,
    )


def scaling_row(
    one: Runner, two: Runner, results: dict[str, list[Round]], throttled: dict[str, Throttling]
) -> Row:
    """Requests/s of two workers against one; the goal is not judged where the figure is not the runner's."""
    rps = {n: median([r.load.rps for r in results[n]]) for n in (one.name, two.name)}
    cpu = {n: median([r.cpu_us for r in results[n]]) for n in (one.name, two.name)}
    rounds = len(results[one.name])
    notes = [
        f"wrk -t2 -c{CONNECTIONS}, {rounds} rounds; {cpu[two.name]:.0f} vs {cpu[one.name]:.0f} µs CPU/request"
    ]
    judged = True
    idle = median([r.cores.idle / r.cores.total for r in results[one.name]])
    if one.budget is None and idle < SATURATED_IDLE:
        notes.append("machine saturated: the ratio measures the machine, not the runner")
        judged = False
    for runner in (one, two):
        if runner.budget is None:
            continue
        notes.append(f"{runner.name}: {throttled[runner.name]}")
        used = median([r.cores.server for r in results[runner.name]]) / runner.budget.cores
        if used < USED_BUDGET:
            notes.append(f"{runner.name} used only {used:.0%} of its budget: not the runner's limit")
            judged = False
    ratio = rps[two.name] / rps[one.name]
    return Row(
        "scaling",
        f"{two.name}: requests/s",
        rps[two.name],
        "req/s",
        rps[one.name],
        one.name,
        f">= {GOAL_SCALING} x",
        ratio >= GOAL_SCALING if judged else None,
        note="; ".join(notes),
    )


def metrics_row(runner: Runner, seconds: float) -> Row:
    """A known load, then what the agent's /metrics counted of it across the workers."""
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


def latency_rows(runner: Runner, peak: float, seconds: float) -> list[Row]:
    """p99 against p50 at 80 % of the runner's peak, from paced wrk and the fixed-rate Python client."""
    rate = SHARE * peak
    steady = paced(runner.url, rate, seconds * 2)
    say(f"scaling: paced wrk at {rate:,.0f}/s: {steady}")
    fixed, late = open_loop(runner.url, rate, seconds * 2, CONNECTIONS * 2)
    say(f"scaling: open-loop at {rate:,.0f}/s: {fixed}, {late} sent over a period late")
    behind = late > LATE_SHARE * fixed.requests  # then it measured its own lag, not the server
    rows = []
    for label, measured, extra in (
        ("wrk paced", steady, ""),
        (
            "fixed-rate Python client",
            fixed,
            f", {late} requests sent over a period late"
            + (": the client fell behind, not a server figure" if behind else ""),
        ),
    ):
        rows.append(
            Row(
                "scaling",
                f"{runner.name} at {SHARE:.0%} of peak ({label}): p99",
                measured.p99_ms,
                "ms",
                measured.p50_ms,
                "its p50",
                f"<= {GOAL_TAIL} x",
                None if extra.endswith("figure") else measured.p99_ms <= GOAL_TAIL * measured.p50_ms,
                note=f"{measured.rps:,.0f} req/s of {peak:,.0f} peak{extra}",
            )
        )
    return rows


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
        one, two = (start(stack, root, project, w, per_worker, period_ms) for w in (1, 2))
        seen = asyncio.run(until_serving([one.url, two.url], "Hello from edgefn!", 60))
        assert all(s == s for s in seen), f"a runner never served the hello function: {seen}"
        for runner in (one, two):
            check_members(runner)

        before = {r.name: r.budget.throttling() for r in (one, two) if r.budget}
        targets = {r.name: servers.Target(r.url, r.pid) for r in (one, two)}
        results = alternate(targets, rounds, seconds, CONNECTIONS, threads=2)
        throttled = {r.name: r.budget.throttling() - before[r.name] for r in (one, two) if r.budget}
        rows = [
            scaling_row(one, two, results, throttled),
            *(cores_row(r, results[r.name]) for r in (one, two)),
        ]
        rows.append(metrics_row(two, seconds))
        if per_worker is None:  # under a quota, throttling stalls would be the tail
            rows += latency_rows(one, median([r.load.rps for r in results[one.name]]), seconds)
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
