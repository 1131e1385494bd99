"""Normal traffic beside clients that hold connections: the ingress's p99 with and without them.

An edge runner faces clients that open connections and do not finish requests. Rounds alternate
on one `edgefn dev` (default settings): quiet (only the load generator on /hello) and hostile,
where `bench.hostile_clients` holds, in its own process, 2,000 idle keep-alive connections, 500
silent ones, 300 heads sent a byte a second, 600 uploads stalled after their head (more than the
512 of `runner.max_requests_in_flight`: a request still sending its body is not in flight) and 200
clients that never read their 1 MB answers (all far above the 128 connections the ingress used to
serve). Goal: the hostile p99 within 2x of the quiet p99, no errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import servers
from bench.common import REPO, Row, median, say
from bench.loadgen import LoadResult, load

GOAL = 2.0
HOSTILE = {"idle": 2000, "silent": 500, "slow-heads": 300, "stalled-uploads": 600, "never-reading": 200}
# An echo route for the never-reading clients, beside the example project's /hello.
ECHO = """
[[functions]]
name = "echo"
wasm = "functions/echo-wat/echo.wat"
memory_pages = 48

[[routes]]
path = "/echo"
methods = ["POST"]
function = "echo"

[[deployments]]
function = "echo"
"""


@contextmanager
def hostile(port: int) -> Iterator[None]:
    args = [sys.executable, "-m", "bench.hostile_clients", str(port)]
    args += [arg for kind, count in HOSTILE.items() for arg in (f"--{kind}", str(count))]
    proc = subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the hostile clients did not start: {line!r}")
        yield
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        say(f"hostile clients: {out.strip()}")


def run(rounds: int = 5, seconds: float = 5.0, connections: int = 16) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-hostile-") as tmp:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        shutil.copytree(REPO / "functions" / "echo-wat", project / "functions" / "echo-wat")
        with (project / "edgefn.toml").open("a") as toml:
            toml.write(ECHO)
        results: dict[str, list[LoadResult]] = {"quiet": [], "hostile": []}
        with servers.dev(project, root / "logs") as dev:
            url = f"{dev.ingress}/hello"
            load(url, 1.0, connections)  # warm-up
            for i in range(rounds):
                for phase in ("quiet", "hostile") if i % 2 == 0 else ("hostile", "quiet"):
                    if phase == "hostile":
                        with hostile(dev.ports["ingress"]):
                            result = load(url, seconds, connections)
                    else:
                        result = load(url, seconds, connections)
                    results[phase].append(result)
                    say(
                        f"hostile-load round {i + 1}/{rounds} {phase}: {result.rps:,.0f} req/s "
                        f"p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms, "
                        f"non-2xx {result.non_2xx} errors {result.errors}"
                    )
    quiet, loud = results["quiet"], results["hostile"]
    note = f"{quiet[0].tool} c={connections}, {rounds} rounds of {seconds:g} s; " + ", ".join(
        f"{count} {kind}" for kind, count in HOSTILE.items()
    )
    bad = sum(r.non_2xx + r.errors for r in loud)
    p99, quiet_p99 = median([r.p99_ms for r in loud]), median([r.p99_ms for r in quiet])
    return [
        Row(
            "hostile-load",
            "p99 latency of normal traffic",
            p99,
            "ms",
            quiet_p99,
            "same server, quiet",
            f"<= {GOAL:g} x",
            p99 / quiet_p99 <= GOAL and bad == 0,
            note=note + (f"; {bad} non-2xx/errors" if bad else ""),
        ),
        Row(
            "hostile-load",
            "p50 latency of normal traffic",
            median([r.p50_ms for r in loud]),
            "ms",
            median([r.p50_ms for r in quiet]),
            "same server, quiet",
            note=note,
        ),
        Row(
            "hostile-load",
            "requests/s of normal traffic",
            median([r.rps for r in loud]),
            "req/s",
            median([r.rps for r in quiet]),
            "same server, quiet",
            note=note,
        ),
    ]
