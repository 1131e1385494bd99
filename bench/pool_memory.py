"""Resident memory per hot instance of the hello guest: RSS before and after 1,000 instances.

Each instance serves one request so its pages are touched as a hot instance's are. The baseline is
the guest's own linear memory (its declared initial pages), so the ratio is the host's overhead.
"""

from __future__ import annotations

import gc
import subprocess
import sys

from bench.common import REPO, Row, median, say

GUEST = REPO / "functions" / "hello" / "hello.wat"
INITIAL_PAGES = 1  # hello.wat: (memory (export "memory") 1)

_CHILD = """
import gc, sys, psutil
from edgehost.runtime import (CompiledFunction, FunctionSpec, GuestRequest, builtin_host_functions,
    wasm_from_source)
n = int(sys.argv[1])
wasm = wasm_from_source(open(sys.argv[2], "rb").read(), "hello.wat")
compiled = CompiledFunction.load(FunctionSpec("demo.hello", 1, memory_pages=16, max_execution_ms=50), wasm,
                                 host_functions=builtin_host_functions())
request = GuestRequest("GET", "/hello", [("host", "bench")], b"")
warm = compiled.instantiate(); warm.invoke(request, request_id="warm"); warm.close()
gc.collect()
before = psutil.Process().memory_info().rss
pool = []
for i in range(n):
    inst = compiled.instantiate()
    inst.invoke(request, request_id=str(i))
    pool.append(inst)
gc.collect()
after = psutil.Process().memory_info().rss
for inst in pool:
    inst.close()
pool.clear(); gc.collect()
closed = psutil.Process().memory_info().rss
print(before, after, closed)
"""


def sample(n: int) -> tuple[int, int, int]:
    """A fresh interpreter per sample, so earlier samples' freed arenas do not hide growth."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), str(GUEST)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout.split()
    before, after, closed = (int(x) for x in out)
    return before, after, closed


def run(instances: int = 1000, rounds: int = 3) -> list[Row]:
    per_instance: list[float] = []
    released: list[float] = []
    for i in range(rounds):
        before, after, closed = sample(instances)
        per_instance.append((after - before) / instances / 1024)
        released.append((after - closed) / max(1, after - before) * 100)
        say(
            f"pool memory round {i + 1}/{rounds}: {per_instance[-1]:.1f} KiB/instance, "
            f"{released[-1]:.0f}% returned on close"
        )
    gc.collect()
    value = median(per_instance)
    return [
        Row(
            "pool-memory",
            "RSS per hot instance",
            value,
            "KiB",
            INITIAL_PAGES * 64.0,
            "guest linear memory",
            note=f"{instances} instances, {rounds} fresh processes, "
            f"{median(released):.0f}% RSS returned on close",
        ),
    ]
