"""`python -m bench`: every benchmark, then one table of medians, baselines and ratios.

Benchmarks owned by other modules of bench/ that print their own tables (guest call, cold path,
finalize check, timeout precision, observability) run first as scripts, unchanged; their output is
passed through.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable

from bench import (
    fresh_instance,
    heartbeats,
    hostile_load,
    ingress,
    ingress_path,
    ingress_plugins,
    output_flood,
    pool_memory,
    propagation,
    scaling,
    soak,
    tail_latency,
)
from bench.common import REPO, Row, machine, say, table

SCRIPTS = (
    "guest_call",
    "cold_path",
    "finalize_check",
    "timeout_precision",
    "deadline_contention",
    "observability",
    "route_overlaps",
    "route_check_stall",
    "kv_calls",
)


def suites(quick: bool) -> dict[str, Callable[[], list[Row]]]:
    if quick:  # a smoke run of every path in a few minutes; the figures are not for RESULTS.md
        return {
            "ingress": lambda: ingress.run(rounds=2, seconds=2),
            "scaling": lambda: scaling.run(rounds=1, seconds=2),
            "tail-latency": lambda: tail_latency.run(rounds=1, seconds=2),
            "ingress-path": lambda: ingress_path.run(requests=2000, rounds=2),
            "ingress-plugins": lambda: ingress_plugins.run(rounds=1, seconds=2),
            "propagation": lambda: propagation.run(deploys=2, interval_s=2),
            "heartbeats": lambda: heartbeats.run(nodes=200, rounds=1, per_round=1),
            "pool-memory": lambda: pool_memory.run(instances=200, rounds=1),
            "output-flood": lambda: output_flood.run(rounds=1),
            "soak": lambda: soak.run(seconds=10),
            "hostile-load": lambda: hostile_load.run(rounds=1, seconds=2),
            "fresh-instance": lambda: fresh_instance.run(rounds=1, seconds=2),
        }
    return {
        "ingress": ingress.run,
        "scaling": scaling.run,
        "tail-latency": tail_latency.run,
        "ingress-path": ingress_path.run,
        "ingress-plugins": ingress_plugins.run,
        "propagation": propagation.run,
        "heartbeats": heartbeats.run,
        "pool-memory": pool_memory.run,
        "output-flood": output_flood.run,
        "soak": soak.run,
        "hostile-load": hostile_load.run,
        "fresh-instance": fresh_instance.run,
    }


def run_scripts(names: list[str]) -> None:
    for name in names:
        say(f"{name}: running python -m bench.{name}")
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=REPO, check=False)
        if done.returncode != 0:
            say(f"{name}: exited {done.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    names = [*SCRIPTS, *suites(False)]
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="short rounds, to check that everything runs")
    args = parser.parse_args()
    wanted = [n.strip() for n in args.only.split(",") if n.strip()] or names
    unknown = set(wanted) - set(names)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    run_scripts([n for n in SCRIPTS if n in wanted])
    rows: list[Row] = []
    for name, fn in suites(args.quick).items():
        if name not in wanted:
            continue
        say(f"{name}: starting")
        try:
            rows += fn()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            say(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            rows.append(Row(name, "failed", float("nan"), "", note=f"{type(exc).__name__}: {str(exc)[:80]}"))
        print(table(rows), file=sys.stderr)  # progress so far, in case a later one hangs
    print(f"\nmachine: {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
