"""Profiles the ingress of a live `edgefn dev` under wrk load with py-spy: the per-request CPU budget
by step (server, routing, admission, request encoding, guest call, response decoding, metrics, log,
answer) and the top frames.

py-spy samples the real server process's Python threads that are on a CPU (the event loop and the
guest threads), so what it shows is the per-request path as deployed, including granian's Python
side and the plugins' hooks; the process's CPU time beyond those samples is granian's Rust threads.
The requests are the ones the server counted itself (`wasm_invoke_count_total`) while py-spy ran.

Run: .venv/bin/python -m bench.profile_ingress [--seconds 10] [--raw OUT] [--rev REV]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil

from bench import servers
from bench.common import VENV_BIN, loadavg, say
from bench.ingress import CONNECTIONS, cpu_seconds, edgefn_at
from bench.loadgen import load
from tests.observability.metrics_text import sample


def py_spy() -> str | None:
    found = VENV_BIN / "py-spy"
    if found.exists():
        return str(found)
    return shutil.which("py-spy")


def aggregate(raw: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Total samples, and per frame the samples that include it (inclusive) or end in it (self)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    return total, inclusive, own


TICKER = "deadline ticker (wasmtime epochs; per second, not per request)"
# edgehost/runtime/engine.py's parking thread; the epoch timer's ticks run on short-lived threads of
# the C library, which have ended by the time they are counted: their CPU is charged here too.
TICKER_THREAD = "edgefn-epoch"
GRANIAN = "granian's threads (HTTP, sockets)"
# The per-request budget (bench/RESULTS.md): a sample goes to the first step that its innermost
# frames belong to, looking outwards; the loop, granian's Python side and thread hand-offs that
# belong to no step are the server's. Within a frame, the first matching step wins (so `_respond`
# is the answer, the rest of the ingress its own step).
BUDGET = (
    # Samples whose innermost frame is the guest thread's loop itself: it is in its queue's `get`
    # (C code), waiting for the next call. py-spy counts a thread as running when it is runnable
    # but not on a core (woken, waiting for the GIL or a CPU), so this is the hand-off to guest
    # threads, inflated on a loaded machine.
    ("guest threads taking the next call (hand-off)", ("GuestThreads._work (",)),
    (TICKER, ("Ticker._run",)),
    ("request encoding", ("encode_wire_request", "encode_request", "_put_headers")),
    (
        "response decoding",
        ("decode_response", "_decode_fast", "_decode_careful", "runner/response_fields.py"),
    ),
    (
        "guest call (pool, guest thread, wasmtime)",
        ("runtime/", "wasmtime/", "plugins/pooling.py", "plugins/hot_pool.py"),
    ),
    ("metrics", ("plugins/metrics.py", "prometheus_client/")),
    ("log", ("plugins/invocation_log.py", "structlog/", "runner/tail.py")),
    ("admission (quotas)", ("plugins/quotas.py", "limits/", "runner/admission.py", "rate_window.py")),
    ("routing", ("plugins/routing.py", "edgehost/routes.py")),
    ("answer (send the response)", ("_respond (",)),
    ("ingress's own work (request id, Host, body, hooks)", ("runner/ingress.py", "pluggy/")),
)
SERVER = "server (loop, granian's Python side)"


def step_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in BUDGET:
            if any(n in frame for n in needles):
                return name
    return SERVER


NATIVE = "server: granian's threads (HTTP, sockets)"


def by_component(raw: str) -> list[tuple[str, float]]:
    """Each budget step's share of the samples, in %, largest first. py-spy also samples threads
    that run with no Python frame on their stack (granian's own threads while they hold a thread
    state): those are the server's native side."""
    shares: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        total += int(count_text)
        shares[step_of(stack.split(";")) if stack else NATIVE] += int(count_text)
    return [(name, n / total * 100) for name, n in shares.most_common()] if total else []


def budget(raw: str, per_thread: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """µs of CPU per request per step. The kernel's accounting per thread (`by_thread`) is exact:
    granian's threads are the server's native side and the epoch thread is the ticker; the rest
    (the event loop, guest threads) is split by the other steps' shares of the samples. Only that
    split is an estimate (py-spy counts a thread that is runnable but waiting for the GIL or a
    core as running: the ticker, measured by the kernel at about a sixth of its samples' share)."""
    measured = dict(per_thread)
    ticker = measured.pop(TICKER_THREAD, 0.0)
    native = measured.pop(GRANIAN, 0.0)
    rest = sum(measured.values())
    shares = [(name, share) for name, share in by_component(raw) if name not in (NATIVE, TICKER)]
    total = sum(share for _, share in shares) or 1.0
    steps = [(name, share / total * rest) for name, share in shares]
    return sorted([(NATIVE, native), (TICKER, ticker), *steps], key=lambda step: -step[1])


def report(raw: str, top: int = 25) -> str:
    total, inclusive, own = aggregate(raw)
    lines = [f"{total} samples with a Python stack (threads on or waiting for a CPU)", "", "step %"]
    lines += [f"{share:6.1f}% | {name}" for name, share in by_component(raw)]
    lines += ["", "inclusive % | frame"]
    lines += [f"{n / total * 100:10.1f}% | {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self % | frame"]
    lines += [f"{n / total * 100:6.1f}% | {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def budget_table(steps: list[tuple[str, float]]) -> str:
    total = sum(us for _, us in steps)
    lines = ["| step | µs CPU per request | share |", "|---|---|---|"]
    lines += [f"| {name} | {us:.1f} | {us / total:.0%} |" for name, us in steps]
    return "\n".join([*lines, f"| total | {total:.1f} | |"])


def counted(metrics_url: str) -> float:
    text = httpx.get(f"{metrics_url}/metrics", timeout=10).text
    return sample(text, "wasm_invoke_count_total", function_id="demo.hello") or 0.0


def thread_roles(spy: str, pid: int) -> dict[int, str]:
    """Thread id -> what it is, from `py-spy dump`: "guest thread" for the runtime's guest
    threads, else its Python name. granian's own threads have no name (some hold a thread state
    with no frames, others none at all): they are left out, and counted as granian's."""
    dump = subprocess.run([spy, "dump", "-p", str(pid)], capture_output=True, text=True).stdout
    roles = {pid: "event loop (main thread: ingress, hooks, granian's Python side)"}  # if the dump missed it
    for block in re.split(r"\n(?=Thread )", dump):
        head = re.match(r'Thread (\S+) \(\w+\)(?:: "([^"]*)")?', block)
        if head is not None and (head.group(2) or "GuestThreads" in block):
            roles.setdefault(
                int(head.group(1), 0), "guest thread" if "GuestThreads" in block else head.group(2)
            )
    return roles


def thread_seconds(pid: int) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}


def by_thread(
    roles: dict[int, str], before: dict[int, float], after: dict[int, float], requests: int
) -> list[tuple[str, float]]:
    """µs of CPU per request per kind of thread, measured by the kernel (exact, unlike samples)."""
    spent: dict[str, float] = collections.defaultdict(float)
    for tid, seconds in after.items():
        spent[roles.get(tid, GRANIAN)] += (seconds - before.get(tid, 0.0)) / requests * 1e6
    return sorted(spent.items(), key=lambda item: -item[1])


def profile(
    seconds: float, rate: int, out: Path, rev: str | None = None
) -> tuple[str, float, int, list[tuple[str, float]]]:
    """The raw stacks of `edgefn dev` (of git revision `rev`, if given) under wrk load, with the
    server's CPU seconds, the requests it counted while py-spy sampled, and the CPU per request
    of each kind of thread."""
    spy = py_spy()
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-prof-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        if rev:
            dev = stack.enter_context(edgefn_at(rev, root))
        else:
            dev = stack.enter_context(servers.dev(servers.copy_example(root / "project"), root / "logs"))
        url = f"{dev.ingress}/hello"
        load(url, 2.0, CONNECTIONS)
        result: dict[str, object] = {}
        loader = threading.Thread(target=lambda: result.update(r=load(url, seconds + 3, CONNECTIONS)))
        loader.start()
        time.sleep(1.0)
        roles = thread_roles(spy, dev.proc.pid)
        cpu, requests, threads = cpu_seconds(dev.proc.pid), counted(dev.metrics), thread_seconds(dev.proc.pid)
        cmd = [spy, "record", "-p", str(dev.proc.pid), "-d", f"{seconds:g}", "-r", str(rate)]
        cmd += ["-f", "raw", "-o", str(out), "--nonblocking"]
        spy_run = subprocess.run(cmd, capture_output=True, text=True)
        cpu, requests = cpu_seconds(dev.proc.pid) - cpu, int(counted(dev.metrics) - requests)
        per_thread = by_thread(roles, threads, thread_seconds(dev.proc.pid), requests)
        ended = cpu / requests * 1e6 - sum(us for _, us in per_thread)  # threads gone meanwhile
        per_thread = [(role, us + ended if role == TICKER_THREAD else us) for role, us in per_thread]
        if TICKER_THREAD not in dict(per_thread):
            per_thread.append((TICKER_THREAD, ended))
        loader.join()
        if spy_run.returncode != 0:
            raise SystemExit(f"py-spy failed (needs ptrace rights):\n{spy_run.stderr[-2000:]}")
        say(f"load during profile: {result.get('r')}")
    return out.read_text(), cpu, requests, per_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, default=Path(tempfile.gettempdir()) / "edgefn-ingress.raw")
    parser.add_argument("--from-raw", type=Path, default=None, help="only summarise an existing raw file")
    parser.add_argument("--rev", default=None, help="profile edgefn as of this git revision")
    args = parser.parse_args()
    if args.from_raw:
        raw = args.from_raw.read_text()
    else:
        raw, cpu, requests, per_thread = profile(args.seconds, args.rate, args.raw, args.rev)
    print(f"load average {loadavg()}")
    if not args.from_raw:
        print(f"{requests} requests, {cpu / requests * 1e6:.1f} µs server CPU per request\n")
        print("| thread (kernel's CPU accounting) | µs CPU per request |\n|---|---|")
        print("\n".join(f"| {role} | {us:.1f} |" for role, us in per_thread) + "\n")
        print(budget_table(budget(raw, per_thread)) + "\n")
    print(report(raw))
    if not args.from_raw:
        print(f"\nraw stacks: {args.raw}", file=sys.stderr)


if __name__ == "__main__":
    main()
