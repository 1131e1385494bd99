"""The metrics and invocation-log hooks of this tree against those of git revision REV, in one process.

Both versions of `plugins/metrics.py` and `plugins/invocation_log.py` are loaded side by side (the
old ones from `git show REV:...`, with their own prometheus-client collectors registered instead of
the new ones'), and each hook is called for the same invocation on a running event loop, the way
the ingress calls it (so batching and folding happen as they do under load), in alternated rounds.
With `--multiprocess`, prometheus-client writes its values to files, as in a multi-worker runner.

Run: .venv/bin/python -m bench.hooks_before_after [--rev 8d2c390] [--multiprocess]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import REPO, loadavg, machine, median

HOOKED = ("metrics", "invocation_log")


class NullSink:
    def msg(self, message: bytes) -> None:
        pass


def old_module(rev: str, name: str, folder: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:plugins/{name}.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    path = folder / f"old_{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"old_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def per_call_us(hook: Callable[[Any], None], invocation: Any, n: int) -> float:
    """µs per call on this loop, yielding every 32 calls as a loaded ingress does between requests."""
    start = time.perf_counter()
    for i in range(n):
        hook(invocation)
        if i % 32 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0.02)  # the batches and folds still due run inside the measured time
    return (time.perf_counter() - start - 0.02) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rev", default="8d2c390")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--multiprocess", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-hooks-") as tmp:
        if args.multiprocess:  # before prometheus-client is imported: it picks its value class then
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp
        from prometheus_client import REGISTRY

        from edgehost.contracts import Invocation
        from edgehost.plugins import invocation_log, metrics

        for collector in list(REGISTRY._collector_to_names):  # the old modules register the same names
            REGISTRY.unregister(collector)
        old = {name: old_module(args.rev, name, Path(tmp)) for name in HOOKED}
        invocation_log.set_sink(NullSink())
        old["invocation_log"].set_sink(NullSink())
        inv = Invocation(
            "0123456789abcdef", "node-1", "GET", "h", "/hello", start_timestamp=1.0, end_timestamp=1.0021
        )
        inv.tenant, inv.function_id, inv.version, inv.status = "demo", "demo.hello", 1, 200
        hooks = {
            f"metrics @{args.rev}": old["metrics"].edgehost_invocation_finished,
            "metrics (this tree)": metrics.edgehost_invocation_finished,
            f"log @{args.rev}": old["invocation_log"].edgehost_invocation_finished,
            "log (this tree)": invocation_log.edgehost_invocation_finished,
            "empty call": lambda _inv: None,
        }

        async def rounds() -> dict[str, list[float]]:
            results: dict[str, list[float]] = {name: [] for name in hooks}
            for i in range(args.rounds):
                order = list(hooks.items()) if i % 2 == 0 else list(reversed(hooks.items()))
                for name, hook in order:
                    results[name].append(await per_call_us(hook, inv, args.calls))
            return results

        results = asyncio.run(rounds())
    mode = "prometheus-client multiprocess files" if args.multiprocess else "one process"
    print(f"machine: {machine()}\nload average {loadavg()}; {mode}; median of {args.rounds} rounds")
    print("| hook | µs per call |\n|---|---|")
    for name, values in results.items():
        print(f"| {name} | {median(values):.2f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
