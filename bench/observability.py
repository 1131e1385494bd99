"""Cost of quotas + metrics + invocation logs: per call in-process, and per request on a real socket.

The in-process calls are made off an event loop, where the log writes each line and the metrics
fold each count at once; on the ingress's loop both batch (bench/hooks_before_after.py measures
them there, beside an older revision's).

Run: .venv/bin/python bench/observability.py
Prints medians of alternated rounds and ratios; nothing here is asserted.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgehost.contracts import Invocation
from tests.observability.projects import project
from tests.procs import dev_server

ROUNDS = 7
OBSERVABILITY = ("quotas", "metrics", "invocation_log")


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def compare(cases: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median of ROUNDS samples per case, rounds alternated so drift hits every case alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, measure in cases.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def report(label: str, medians: dict[str, float]) -> None:
    base = next(iter(medians.values()))
    print(f"\n{label}")
    for name, value in medians.items():
        print(f"  {name:46s} {value:9.2f} µs   x{value / base:6.2f}")


def invocation(**extra: object) -> Invocation:
    inv = Invocation(
        "0123456789abcdef",
        "node-1",
        "GET",
        "example.com",
        "/hello",
        start_timestamp=time.time(),
        tenant="demo",
    )
    inv.function_id, inv.version, inv.status, inv.end_timestamp = "demo.hello", 3, 200, time.time()
    for key, value in extra.items():
        setattr(inv, key, value)
    return inv


def in_process(state_dir: Path) -> dict[str, float]:
    from edgehost.plugins import invocation_log, metrics, quotas

    inv = invocation()
    failed = invocation(error_code="trap", error_message="wasm trap: unreachable", status=500)
    memory = quotas.Admission(
        max_concurrent=100, per_minute=10**9, storage_uri="memory://", counts=quotas.LocalCounts()
    )
    shared = quotas.Admission(
        max_concurrent=100,
        per_minute=10**9,
        storage_uri="memory://",
        counts=quotas.shared_counts(state_dir / quotas.TABLE_FILE),
    )

    def admit_release(admission: quotas.Admission) -> Callable[[], None]:
        def run() -> None:
            admission.admit(inv)
            admission.release(inv)

        return run

    n = 20000
    return compare(
        {
            "baseline: empty function call": lambda: per_call_us(lambda: None, n),
            "invocation log: record dict only": lambda: per_call_us(
                lambda: invocation_log.log_record(inv), n
            ),
            "invocation log: one line (ok; off a loop, written at once)": lambda: per_call_us(
                lambda: invocation_log.edgehost_invocation_finished(inv), n
            ),
            "invocation log: one line (failed; off a loop)": lambda: per_call_us(
                lambda: invocation_log.edgehost_invocation_finished(failed), n
            ),
            "metrics: invocation_finished (off a loop, folded at once)": lambda: per_call_us(
                lambda: metrics.edgehost_invocation_finished(failed), n
            ),
            "quotas: admit+release, in-process counts": lambda: per_call_us(admit_release(memory), n),
            "quotas: admit+release, shared table": lambda: per_call_us(admit_release(shared), n),
        },
    )


class KeepAlive:
    """A minimal HTTP/1.1 client on one socket: the client's own cost stays far below the server's."""

    def __init__(self, url: str, path: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = f"GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
        self.buffer = b""

    def get(self) -> None:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        length = int(
            next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
        )
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]


def on_sockets(work: Path) -> None:
    proj = project(work / "p", "bench", ("hello",))
    off = {"EDGEFN_DISABLED_PLUGINS": "[" + ", ".join(f'"{p}"' for p in OBSERVABILITY) + "]"}
    with (
        dev_server(proj, work / "on-logs", env={"EDGEFN_QUOTAS__PER_MINUTE": str(10**9)}) as on,
        dev_server(project(work / "q", "bench", ("hello",)), work / "off-logs", env=off) as bare,
    ):
        clients = {
            "plugins disabled": KeepAlive(bare.ingress, "/hello"),
            "quotas+metrics+logs": KeepAlive(on.ingress, "/hello"),
        }
        for client in clients.values():
            per_call_us(client.get, 500)  # warm-up
        n = 2000
        medians = compare({name: partial(per_call_us, client.get, n) for name, client in clients.items()})
        report("per request through granian, one keep-alive connection (µs)", medians)
        print(f"  invocation lines written by the enabled server: {on.stdout.count(chr(10))}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-") as tmp:
        work = Path(tmp)
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(1)
        os.dup2(devnull, 1)  # the log lines go to /dev/null: the cost measured is the plugin's own
        try:
            medians = in_process(work / "state")
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
        report("per call, in process (µs; log lines to /dev/null)", medians)
        on_sockets(work)


if __name__ == "__main__":
    main()
