"""The KV host calls per call on each backend, beside a guest call without KV.

One hot instance of tests/guests/kv_raw.wat invoked in a loop (a whole invoke per call: request
encoding, the guest, the host call, the response), so the difference to the baseline rows is
what a `kv_get` or `kv_set` adds to a request. Backends: `sqlite` (a file in a temporary folder,
WAL) and `redis` (a throwaway redis-server on loopback, tests/services.py). The store's own
method called directly is shown too: the rest is the host call's marshalling.

Run: .venv/bin/python -m bench.kv_calls [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import REPO, loadavg, machine
from edgehost.kv import KvLimits, KvStore
from edgehost.kv.hostcalls import KvCalls
from edgehost.kv.redis_store import RedisKvStore
from edgehost.kv.sqlite_store import SqliteKvStore
from edgehost.runtime import CompiledFunction, FunctionSpec, GuestRequest, wasm_from_source
from tests.services import RedisServer

GUEST = REPO / "tests" / "guests" / "kv_raw.wat"
GET, SET = 0, 1
DEFAULT, CARTS, KEY, VALUE = (16, 7), (32, 5), (48, 1), (64, 5)
T = 1.0


def instance(store: KvStore) -> object:
    calls = KvCalls(lambda: store, store.limits)
    spec = FunctionSpec("bench.kv", 1, kv=("default",), max_execution_ms=5000)
    wasm = wasm_from_source(GUEST.read_bytes(), GUEST.name)
    return CompiledFunction.load(spec, wasm, host_functions=calls.host_functions()).instantiate()


def invoker(inst: object, op: int, store: tuple[int, int]) -> Callable[[], object]:
    request = GuestRequest("POST", "/", [], struct.pack("<7I", op, *store, *KEY, *VALUE))
    invoke = inst.invoke  # type: ignore[attr-defined]
    return lambda: invoke(request, request_id="r")


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def measure(cases: dict[str, Callable[[], object]], rounds: int, n: int) -> dict[str, float]:
    """Median µs per call, the cases alternated within each round so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        per_call_us(fn, n // 10)  # warm: connections, statements, pages
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(per_call_us(fn, n))
    return {name: statistics.median(values) for name, values in samples.items()}


def cases_for(store: KvStore) -> dict[str, Callable[[], object]]:
    store.set("bench", "default", b"k", b"value", T)
    inst = instance(store)
    return {
        "kv_get (5-byte value), whole invoke": invoker(inst, GET, DEFAULT),
        "kv_set (5-byte value), whole invoke": invoker(inst, SET, DEFAULT),
        "store.get alone": lambda: store.get("bench", "default", b"k", T),
        "store.set alone": lambda: store.set("bench", "default", b"k", b"value", T),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(f"# kv_calls: {machine()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-kv-") as tmp, RedisServer() as redis:
        sqlite = SqliteKvStore(Path(tmp) / "kv.db", KvLimits())
        remote = RedisKvStore(redis.url, KvLimits())
        base = instance(sqlite)
        cases = {
            "baseline: a guest call without KV": invoker(base, 2, (0, 0)),  # op 2 with no store: -6
            **{f"sqlite {name}": fn for name, fn in cases_for(sqlite).items()},
            **{f"redis  {name}": fn for name, fn in cases_for(remote).items()},
        }
        # The baseline's one host call is refused before any store is asked (a store not granted).
        print(f"load average before: {loadavg()}", file=sys.stderr)
        medians = measure(cases, args.rounds, args.calls)
        print(f"load average after: {loadavg()}", file=sys.stderr)
        sqlite.close()
        remote.close()
    baseline = medians["baseline: a guest call without KV"]
    print("\nKV host calls (median µs per call; + is over the baseline)")
    for name, value in medians.items():
        extra = "" if name.startswith("baseline") or "alone" in name else f"   +{value - baseline:7.2f} µs"
        print(f"  {name:44s} {value:9.2f} µs{extra}")


if __name__ == "__main__":
    main()
