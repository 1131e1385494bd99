"""Deploy → serving: from the deploy API call returning until every runner answers with the new body.

Three real runner processes behind one real CP; once with the watch long-poll on, once with heartbeats
only (`heartbeat.watch = false`). Each deploy changes the guest's response text, so "serving" is
observed at the ingress, not inferred from a report.

Heartbeats only, propagation is bounded by the interval (the CP's `heartbeat.interval_s`, which its
replies impose on runners; the cluster sets both). It runs at 1 s, which 1,000 nodes can afford now
that a heartbeat with nothing new costs the CP no database query: bench/heartbeats.py measures about
1,000-1,300 heartbeats per CP CPU-second, so a fleet of 1,000 at 1 s takes about one CP core.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import httpx

from bench.cluster import cluster
from bench.common import REPO, Row, median, say
from edgehost.cli.settings_loader import local_host_functions
from edgehost.client import ApiClient
from edgehost.project import load_project
from edgehost.project.apply import apply_project

GOAL_S = 1.0
ORIGINAL = "Hello from edgefn!\\n"  # as written in the WAT source: 19 bytes on the wire


def body_text(n: int) -> str:
    """Same length as the original, so the pre-encoded response lengths in the WAT stay right."""
    return f"Hello from v{n:05d}!"


def write_version(project: Path, n: int) -> None:
    source = (REPO / "functions" / "hello" / "hello.wat").read_text()
    assert ORIGINAL in source
    (project / "functions" / "hello" / "hello.wat").write_text(source.replace(ORIGINAL, body_text(n) + "\\n"))


def make_project(project: Path) -> None:
    (project / "functions" / "hello").mkdir(parents=True, exist_ok=True)
    (project / "edgefn.toml").write_text((REPO / "edgefn.toml").read_text())
    write_version(project, 0)


def deploy(project: Path, api: str, token: str) -> None:
    with ApiClient(api, token) as client:
        apply_project(load_project(project), client, host_functions=local_host_functions(), prune=True)


async def until_serving(urls: list[str], text: str, timeout: float) -> list[float]:
    """Seconds until each URL first answers `text`; polled every few milliseconds."""
    start = time.perf_counter()
    seen: list[float] = [float("nan")] * len(urls)
    async with httpx.AsyncClient(timeout=2.0) as client:

        async def poll(i: int, url: str) -> None:
            while time.perf_counter() - start < timeout:
                try:
                    response = await client.get(url)
                    if response.status_code == 200 and response.text.startswith(text):
                        seen[i] = time.perf_counter() - start
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.005)

        await asyncio.gather(*(poll(i, url) for i, url in enumerate(urls)))
    return seen


def measure(watch: bool, deploys: int, interval_s: float) -> list[float]:
    """Per deploy, seconds until all runners serve it (nan where one never did within the timeout)."""
    label = "watch" if watch else "heartbeats only"
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-prop-") as tmp:
        root = Path(tmp)
        project = root / "project"
        make_project(project)
        with cluster(root, runners=3, watch=watch, interval_s=interval_s) as c:
            urls = [f"{u}/hello" for u in c.ingress]
            deploy(project, c.api, c.token)
            asyncio.run(until_serving(urls, body_text(0), 60))
            times: list[float] = []
            for n in range(1, deploys + 1):
                # a random phase against the runners' heartbeat clocks, or every deploy would wait alike
                time.sleep(0.2 if watch else random.uniform(0, interval_s))
                write_version(project, n)
                deploy(project, c.api, c.token)
                per_runner = asyncio.run(until_serving(urls, body_text(n), interval_s * 3 + 10))
                times.append(max(per_runner))
                say(
                    f"propagation ({label}) deploy {n}: "
                    + ", ".join(f"{t * 1000:.0f} ms" for t in per_runner)
                )
            return times


def run(deploys: int = 7, interval_s: float = 1.0) -> list[Row]:
    watch = measure(True, deploys, interval_s)
    beats = measure(False, deploys, interval_s)
    note = f"3 runners, {deploys} deploys, heartbeat.interval_s={interval_s:g}"
    return [
        Row(
            "propagation",
            "deploy->serving p50 (watch)",
            median(watch),
            "s",
            median(beats),
            "heartbeats only",
            f"<= {GOAL_S:g} s",
            median(watch) <= GOAL_S,
            note=note + f", max {max(watch):.3f} s",
        ),
        Row(
            "propagation",
            "deploy->serving p50 (heartbeats only)",
            median(beats),
            "s",
            interval_s * 0.75,
            "E[max of 3 random phases]",
            f"<= {GOAL_S:g} s",
            median(beats) <= GOAL_S,
            note=note + f", max {max(beats):.3f} s",
        ),
    ]
