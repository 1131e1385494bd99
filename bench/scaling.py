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

Run: .venv/bin/python -m bench.scaling [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench import servers
from bench.cluster import cluster
from bench.common import Row, machine, median, say, table
from bench.ingress import alternate
from bench.loadgen import load, open_loop, paced
from bench.propagation import deploy, until_serving
from tests.observability.metrics_text import sample

GOAL_SCALING = 1.7
GOAL_TAIL = 2.0
SHARE = 0.8
CONNECTIONS = 32
LATE_SHARE = 0.01  # more requests than this sent a period late: the client could not keep the rate
FOLD_WAIT_S = 1.5  # past plugins/metrics.py's Tallies.FOLD_S, so every worker has folded its counts


def counted(metrics_url: str) -> float:
    text = httpx.get(metrics_url, timeout=10).text
    return sample(text, "wasm_invoke_count_total", function_id="demo.hello") or 0.0


def run(rounds: int = 3, seconds: float = 5.0) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-scaling-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        urls, metrics, targets = {}, {}, {}
        for workers in (1, 2):
            env = {**servers.NO_RATE_LIMIT, "EDGEFN_RUNNER__WORKERS": str(workers)}
            c = stack.enter_context(cluster(root / f"w{workers}", runners=1, env=env, interval_s=1.0))
            deploy(project, c.api, c.token)
            name = f"{workers} worker{'s' if workers > 1 else ''}"
            urls[name], metrics[name] = f"{c.ingress[0]}/hello", c.metrics[0]
            targets[name] = servers.Target(urls[name], c.runners[0].proc.pid)
        seen = asyncio.run(until_serving(list(urls.values()), "Hello from edgefn!", 60))
        assert all(s == s for s in seen), f"a runner never served the hello function: {seen}"

        results = alternate(targets, rounds, seconds, CONNECTIONS, threads=2)
        one, two = (median([r.load.rps for r in results[n]]) for n in ("1 worker", "2 workers"))
        cpu_one, cpu_two = (median([r.cpu_us for r in results[n]]) for n in ("1 worker", "2 workers"))
        note = f"wrk -t2 -c{CONNECTIONS}, {rounds} rounds; {cpu_two:.0f} vs {cpu_one:.0f} µs CPU/request"
        rows.append(
            Row(
                "scaling",
                "2 workers: requests/s",
                two,
                "req/s",
                one,
                "1 worker",
                f">= {GOAL_SCALING} x",
                two / one >= GOAL_SCALING,
                note=note,
            )
        )

        # Metrics across workers: a known load, then what the agent's /metrics counted of it.
        name = "2 workers"
        time.sleep(FOLD_WAIT_S)  # the rounds' last counts folded first
        before = counted(metrics[name])
        result = load(urls[name], seconds, CONNECTIONS, threads=2)
        time.sleep(FOLD_WAIT_S)
        got = counted(metrics[name]) - before
        exact = result.requests <= got <= result.requests + CONNECTIONS
        say(f"scaling: 2 workers counted {got:.0f} invocations for {result.requests} answers received by wrk")
        rows.append(
            Row(
                "scaling",
                "2 workers: invocations counted in /metrics",
                got,
                "",
                result.requests,
                "answers wrk received",
                f"within +{CONNECTIONS} in flight",
                exact,
                note="one scrape of the agent",
            )
        )

        # Latency at 80 % of the one-worker runner's peak.
        rate = SHARE * one
        steady = paced(urls["1 worker"], rate, seconds * 2)
        say(f"scaling: paced wrk at {rate:,.0f}/s: {steady}")
        fixed, late = open_loop(urls["1 worker"], rate, seconds * 2, CONNECTIONS * 2)
        say(f"scaling: open-loop at {rate:,.0f}/s: {fixed}, {late} sent over a period late")
        behind = late > LATE_SHARE * fixed.requests  # then it measured its own lag, not the server
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
                    f"1 worker at {SHARE:.0%} of peak ({label}): p99",
                    measured.p99_ms,
                    "ms",
                    measured.p50_ms,
                    "its p50",
                    f"<= {GOAL_TAIL} x",
                    None if extra.endswith("figure") else measured.p99_ms <= GOAL_TAIL * measured.p50_ms,
                    note=f"{measured.rps:,.0f} req/s of {one:,.0f} peak{extra}",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = run(args.rounds, args.seconds)
    print(f"machine: {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
