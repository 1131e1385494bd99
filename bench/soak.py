"""Soak: `edgefn dev` under constant load for a fixed time, RSS sampled every second.

Steady: zero errors and flat memory (instance churn must not leak). Churn: the same load while the
hello function is deployed and rolled back every few seconds through the real API and CLI; not one
request may fail. servers.dev raises the per-minute limit, so quota refusals do not count as drops.

It runs 120 s because the in-memory quota window keeps one entry per request for 60 s: memory rises
for the first minute by design, so flatness is judged on the second half only.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import psutil

from bench import servers
from bench.common import Row, median, say
from bench.loadgen import LoadResult, load
from bench.propagation import body_text, deploy, make_project, write_version
from tests.procs import DevServer, run_cli


def _rss_sampler(pid: int, stop: threading.Event, out: list[float]) -> None:
    proc = psutil.Process(pid)
    while not stop.wait(1.0):
        out.append(proc.memory_info().rss / 2**20)


def _churn(dev: DevServer, workdir: Path, stop: threading.Event, log: list[str], every_s: float) -> None:
    """Alternates a new version (deploy) and a rollback to version 1 until stopped."""
    project = workdir / "deploys"
    make_project(project)
    n = 0
    while not stop.wait(every_s):
        n += 1
        if n % 2:
            write_version(project, n)
            deploy(project, dev.api, dev.token)
            log.append(f"deploy {body_text(n)}")
        else:
            result = run_cli(
                "rollback", "hello", "--to", "1", "--project", "demo", "--api", dev.api, "--token", dev.token
            )
            log.append(f"rollback rc={result.returncode}")


def soak(seconds: float, churn: bool, connections: int) -> tuple[LoadResult, list[float], list[str]]:
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-soak-") as tmp:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        with servers.dev(project, root / "logs") as dev:
            url = f"{dev.ingress}/hello"
            load(url, 2.0, connections)
            stop = threading.Event()
            rss: list[float] = []
            events: list[str] = []
            threads = [threading.Thread(target=_rss_sampler, args=(dev.proc.pid, stop, rss), daemon=True)]
            if churn:
                threads.append(
                    threading.Thread(target=_churn, args=(dev, root, stop, events, 3.0), daemon=True)
                )
            for t in threads:
                t.start()
            result = load(url, seconds, connections)
            stop.set()
            for t in threads:
                t.join(30)
    return result, rss, events


def run(
    seconds: float = 120.0, connections: int = 16, variants: tuple[bool, ...] = (False, True)
) -> list[Row]:
    rows: list[Row] = []
    for churn in variants:
        label = "deploy/rollback churn" if churn else "steady"
        result, rss, events = soak(seconds, churn, connections)
        bad = result.non_2xx + result.errors
        first, last, peak = rss[0], rss[-1], max(rss)
        half = rss[len(rss) // 2 :]
        drift = (half[-1] - half[0]) / max(1.0, len(half) - 1) * 60 if len(half) > 1 else float("nan")
        say(
            f"soak {label}: {result.requests:,} requests, {result.rps:,.0f}/s, {result.non_2xx} non-2xx, "
            f"{result.errors} socket errors; RSS MiB first {first:.1f} last {last:.1f} max {peak:.1f}; "
            f"{len(events)} deploys/rollbacks"
        )
        note = (
            f"{seconds:g} s {result.tool} c={connections}, {result.requests:,} req, RSS first/last/max "
            f"{first:.1f}/{last:.1f}/{peak:.1f} MiB, 2nd-half drift {drift:+.1f} MiB/min"
        )
        if churn:
            failed = sum(1 for e in events if "rc=" in e and not e.endswith("rc=0"))
            note += f", {len(events)} deploys+rollbacks ({failed} failed)"
        rows.append(
            Row(
                "soak",
                f"failed requests ({label})",
                float(bad),
                "",
                0.0,
                "zero",
                "0 dropped",
                bad == 0,
                note=note,
            )
        )
        rows.append(
            Row(
                "soak",
                f"RSS last/first ({label})",
                last,
                "MiB",
                first,
                "first sample",
                "flat",
                abs(drift) < 1.0 if drift == drift else None,
                note=f"median {median(rss):.1f} MiB",
            )
        )
    return rows
