"""What a guest flooding its output costs a runner: peak RSS growth and answer time per request.

Serves tests/guests/flood.wat from `edgefn dev` (memory_pages 1025, max_execution_ms 1000) and
sends one request to each flooding export: 8 x 64 MiB to stdout without a newline, 8 `edgefn.log`
lines of 64 MiB, 1 MiB of newlines. Peak RSS is the dev process's VmHWM before and after the
request (each flood runs in a fresh process, so one flood's peak cannot hide the next); the
baseline is a hello request in the same process. The bounds the runner promises (docs/runner.md,
"Memory") make each flood cost kilobytes and no time.

Run: .venv/bin/python -m bench.output_flood [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import REPO, Row, machine, median, say, table
from bench.servers import dev
from tests.procs import DevServer, write_project

FLOODS = {
    "stdout": "8 x 64 MiB to stdout, no newline",
    "log": "8 edgefn.log lines of 64 MiB",
    "newlines": "1 MiB of newlines to stderr",
}
TOML = """project = "flood"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[routes]]
path = "/hello"
function = "hello"

[[deployments]]
function = "hello"

[[functions]]
name = "flood"
wasm = "flood.wat"
entrypoint = "{entry}"
memory_pages = 1025
max_execution_ms = 1000

[[routes]]
path = "/flood"
function = "flood"

[[deployments]]
function = "flood"
"""


def peak_mib(server: DevServer) -> float:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def one(entry: str, root: Path) -> tuple[float, float, float]:
    """(peak RSS growth MiB, answer seconds, hello answer seconds) for one flood in a fresh `edgefn dev`."""
    files = {
        "flood.wat": (REPO / "tests/guests/flood.wat").read_text(),
        "hello.wat": (REPO / "functions/hello/hello.wat").read_text(),
    }
    project = write_project(root / entry, TOML.format(entry=entry), files)
    with dev(project, root / f"{entry}-logs") as server, httpx.Client(timeout=120) as client:
        for _ in range(20):  # warm: the hello path's own peak is reached before measuring
            client.get(f"{server.ingress}/hello")
        started = time.perf_counter()
        client.get(f"{server.ingress}/hello")
        hello_s = time.perf_counter() - started
        before = peak_mib(server)
        started = time.perf_counter()
        response = client.get(f"{server.ingress}/flood")
        answer_s = time.perf_counter() - started
        grown = peak_mib(server) - before
        if response.status_code != 200:
            raise RuntimeError(f"flood {entry} answered {response.status_code}: {response.text[:200]}")
    return grown, answer_s, hello_s


def run(rounds: int = 3) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-flood-") as tmp:
        for entry, what in FLOODS.items():
            samples = []
            for n in range(rounds):
                say(f"flood {entry}, round {n + 1}/{rounds}")
                samples.append(one(entry, Path(tmp) / f"{n}"))
            grown, answer, hello = (median([s[i] for s in samples]) for i in range(3))
            rows.append(
                Row(
                    "output-flood", f"peak RSS growth: {what}", grown, "MiB", note=f"{rounds} fresh processes"
                )
            )
            rows.append(
                Row(
                    "output-flood",
                    f"answer time: {what} (limit 1 s)",
                    answer * 1000,
                    "ms",
                    hello * 1000,
                    "hello",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = run(args.rounds)
    print(f"machine: {machine()}", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
