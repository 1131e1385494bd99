"""Deadlines under contention: the worst 504 of 1, 10 and 40 runaway guests at once, through `edgefn dev`.

`max_execution_ms` is a wall-clock limit, so a runaway's 504 must come close to it however many
run beside it: the goal is every 504 within +10 % of the limit. Each round opens N connections
first, then sends N requests to a guest that loops forever (tests/guests/loop.wat) and times each
answer from its request's write. The baseline is a hello request on the same server and session.
The runner's own figure (routing to answer, from the invocation log's `duration_ms`) is shown
beside it, so time lost before routing (accept, parsing, the event loop) can be told apart.
Last, the load generator runs on /hello while the most runaways spin, against a quiet run: the
runner must keep serving normal traffic while its guest threads burn their limits.
Run: .venv/bin/python -m bench.deadline_contention [--limit-ms 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench import servers
from bench.common import REPO, loadavg, machine, say
from bench.loadgen import LoadResult, load, roundtrip
from tests.procs import write_project

CONCURRENCY = (1, 10, 40)
GOAL = 0.10  # at most this fraction over the limit
RUNAWAY = "contention.runaway"


def project(root: Path, limit_ms: int) -> Path:
    toml = f"""project = "contention"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[functions]]
name = "runaway"
wasm = "loop.wat"
max_execution_ms = {limit_ms}
min_hot_instances = 0
max_hot_instances = 64

[[routes]]
path = "/hello"
function = "hello"

[[routes]]
path = "/runaway"
function = "runaway"

[[deployments]]
function = "hello"

[[deployments]]
function = "runaway"
"""
    files = {
        "hello.wat": (REPO / "functions/hello/hello.wat").read_text(),
        "loop.wat": (REPO / "tests/guests/loop.wat").read_text(),
    }
    return write_project(root / "contention", toml, files)


async def _answers(port: int, path: str, count: int) -> list[tuple[int, float]]:
    """`count` requests sent at once on their own connections: (status, ms from write to answer)."""
    request = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, float]:
        start = time.perf_counter()
        status, _ = await roundtrip(reader, writer, request)
        return status, (time.perf_counter() - start) * 1000

    try:
        return await asyncio.gather(*(one(r, w) for r, w in conns))
    finally:
        for _, writer in conns:
            writer.close()


def beside_runaways(port: int, url: str, count: int, seconds: int) -> tuple[LoadResult, LoadResult]:
    """Normal traffic alone, then while `count` runaways spin (the load starts once they run)."""
    quiet = load(url, seconds, 16)
    runaways = threading.Thread(target=lambda: asyncio.run(_answers(port, "/runaway", count)))
    runaways.start()
    time.sleep(0.5)
    loud = load(url, seconds, 16)
    runaways.join()
    return quiet, loud


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.deadline_contention", description=__doc__)
    parser.add_argument("--limit-ms", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    limit = args.limit_ms
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-deadlines-") as tmp:
        root = Path(tmp)
        with servers.dev(project(root, limit), root / "logs") as dev:
            port = dev.ports["ingress"]
            hello = [ms for _ in range(30) for status, ms in asyncio.run(_answers(port, "/hello", 1))]
            base = statistics.median(hello)
            print(f"\nmachine: {machine()}")
            print(f"baseline: hello through the runner, median {base:.2f} ms; limit {limit} ms")
            print(
                f"  {'runaways':>8} {'answers':>7} {'median':>10} {'worst':>10} {'worst over':>11}"
                f" {'in runner':>10} {'goal':>7} {'met':>4}  load 1/5/15"
            )
            for n in CONCURRENCY:
                answers: list[tuple[int, float]] = []
                logged = len(dev.json_lines())
                for i in range(args.rounds):
                    answers += asyncio.run(_answers(port, "/runaway", n))
                    say(f"deadlines: {n} runaways, round {i + 1}/{args.rounds} done")
                wrong = [status for status, _ in answers if status != 504]
                times = [ms for _, ms in answers]
                worst = max(times)
                records = []
                for _ in range(100):  # the log lines reach the file just after the answers
                    records = [r for r in dev.json_lines()[logged:] if r.get("function_id") == RUNAWAY]
                    if len(records) >= len(answers):
                        break
                    time.sleep(0.05)
                in_runner = max((r["duration_ms"] for r in records), default=float("nan"))
                over = (worst - limit) / limit
                met = over <= GOAL and not wrong
                print(
                    f"  {n:>8} {len(answers):>7} {statistics.median(times):>7.0f} ms {worst:>7.0f} ms"
                    f" {over:>+10.1%} {in_runner:>7.0f} ms {f'+{GOAL:.0%}':>7} {'yes' if met else 'NO':>4}"
                    f"  {loadavg()}"
                    + (f"  ({len(wrong)} answers not 504: {sorted(set(wrong))})" if wrong else "")
                )
            n = CONCURRENCY[-1]
            quiet, loud = beside_runaways(port, f"{dev.ingress}/hello", n, max(1, min(3, limit // 1600)))
            print(f"\nhello ({loud.tool} c=16) alone / beside {n} runaways:")
            for name, attr, unit in (
                ("req/s", "rps", ""),
                ("p50", "p50_ms", " ms"),
                ("p99", "p99_ms", " ms"),
            ):
                print(f"  {name:>5}: {getattr(quiet, attr):,.2f}{unit} / {getattr(loud, attr):,.2f}{unit}")
            print(f"  non-2xx / errors beside them: {loud.non_2xx} / {loud.errors}  (load {loadavg()})")


if __name__ == "__main__":
    main()
