"""What each per-request plugin costs the ingress: `edgefn dev` with one plugin disabled at a time.

Same method as bench/ingress.py (wrk, alternated rounds, the bare baseline in the same run), in
server CPU time per request: the difference between a variant and the full runner is what that
plugin costs each request.

Run: .venv/bin/python -m bench.ingress_plugins [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import servers
from bench.common import Row, machine, median, table
from bench.ingress import alternate

VARIANTS: dict[str, list[str]] = {
    "edgefn (all plugins)": [],
    "without quotas": ["quotas"],
    "without invocation_log": ["invocation_log"],
    "without metrics": ["metrics"],
}


def run(rounds: int = 3, seconds: float = 5.0, connections: int = 16) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-plugins-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        targets: dict[str, servers.Target] = {}
        for i, (name, disabled) in enumerate(VARIANTS.items()):
            project = servers.copy_example(root / f"project{i}")
            env = {"EDGEFN_DISABLED_PLUGINS": "[" + ",".join(f'"{p}"' for p in disabled) + "]"}
            dev = stack.enter_context(servers.dev(project, root / f"logs{i}", env))
            targets[name] = servers.Target(f"{dev.ingress}/hello", dev.proc.pid)
        targets["baseline"] = stack.enter_context(servers.baseline(root / "logs"))
        results = alternate(targets, rounds, seconds, connections)
    full = median([r.cpu_us for r in results["edgefn (all plugins)"]])
    base = median([r.cpu_us for r in results["baseline"]])
    rows = []
    for name in VARIANTS:
        cpu = median([r.cpu_us for r in results[name]])
        rps = median([r.load.rps for r in results[name]])
        note = f"{rps:,.0f} req/s; bare Litestar {base:.0f} µs (ratio {base / cpu:.2f})"
        rows.append(Row("ingress-plugins", name, cpu, "µs CPU/request", full, "all plugins", note=note))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = run(args.rounds, args.seconds)
    print(f"machine: {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
