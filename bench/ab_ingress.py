"""Two trees' `edgefn dev` side by side: the hello guest through sockets, rounds alternated.

For before/after figures of an ingress change: `--before DIR` is another checkout of the project
(`git archive <commit> | tar -x -C DIR`), run with the same venv through PYTHONPATH; the current
tree is "after". Both serve the example project with quotas, metrics and the invocation log on
(the per-minute window raised, as in bench.ingress), and each round records requests/s and the
server's CPU time per request (bench.ingress.measure), with the load average.

Run: .venv/bin/python -m bench.ab_ingress --before /tmp/edgefn-before [--rounds 6] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench import servers
from bench.common import median, say
from bench.ingress import alternate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-ab-") as tmp:
        root = Path(tmp)
        before_env = {"PYTHONPATH": str(args.before.resolve())}
        with (
            servers.dev(servers.copy_example(root / "before"), root / "logs-before", before_env) as before,
            servers.dev(servers.copy_example(root / "after"), root / "logs-after") as after,
        ):
            targets = {
                "before": servers.Target(f"{before.ingress}/hello", before.proc.pid),
                "after": servers.Target(f"{after.ingress}/hello", after.proc.pid),
            }
            results = alternate(targets, args.rounds, args.seconds, args.connections)
    load = os.getloadavg()
    for name, rounds in results.items():
        rps = median([r.load.rps for r in rounds])
        cpu = median([r.cpu_us for r in rounds])
        say(f"{name}: {rps:,.0f} req/s, {cpu:.0f} µs server CPU per request (median of {len(rounds)})")
    say(f"load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


if __name__ == "__main__":
    main()
