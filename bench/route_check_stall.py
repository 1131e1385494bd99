"""Ingress latency on a real `edgefn dev` while its CP checks one project's routes against others'.

Twenty projects hold 1,000 shared-host routes each (`/tNxM/{q}/y`); a twenty-first replaces its
1,000 routes with `/{p}/mM/x`, the shape no index speeds up (see bench/route_overlaps.py), so the
check runs for seconds. Meanwhile a client GETs the example project's `/hello` every 10 ms: the
figure is the slowest answer during the PUT (the CP, the runner and its ingress share one process
and one event loop under `edgefn dev`). Reported beside the median of the same GETs.

    .venv/bin/python -m bench.route_check_stall
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import Row, median, say, table
from bench.servers import copy_example, dev
from tests.controlplane.harness import PARAMS
from tests.procs import run_cli, wait_until

PROJECTS = 20
ROUTES = 1000


def run() -> list[Row]:
    with (
        tempfile.TemporaryDirectory() as scratch,
        dev(copy_example(Path(scratch) / "p"), Path(scratch)) as server,
    ):
        wait_until(lambda: httpx.get(f"{server.ingress}/hello", timeout=5).status_code == 200, timeout=60)
        minted = run_cli("token", "--subject", "bench", "--state-dir", str(server.state_dir))
        headers = {"authorization": f"Bearer {minted.stdout.strip()}"}
        with httpx.Client(base_url=server.api, headers=headers, timeout=600) as api:
            for p in range(PROJECTS + 1):
                api.post(f"/v1/projects/t{p}/functions", json={"name": "f", **PARAMS}).raise_for_status()
            say(f"route-check-stall: {PROJECTS} projects of {ROUTES} routes")
            for p in range(PROJECTS):
                routes = [{"host": "*", "path": f"/t{p}x{i}/{{q}}/y", "function": "f"} for i in range(ROUTES)]
                api.put(f"/v1/projects/t{p}/routes", json={"routes": routes}).raise_for_status()
            mine = [{"host": "*", "path": f"/{{p}}/m{i}/x", "function": "f"} for i in range(ROUTES)]
            latencies: list[float] = []
            done = threading.Event()

            def probe() -> None:
                with httpx.Client(timeout=120) as client:
                    while not done.is_set():
                        start = time.perf_counter()
                        client.get(f"{server.ingress}/hello")
                        latencies.append(time.perf_counter() - start)
                        time.sleep(0.01)

            prober = threading.Thread(target=probe)
            prober.start()
            time.sleep(1)
            say("route-check-stall: one more project replaces its routes")
            start = time.perf_counter()
            api.put(f"/v1/projects/t{PROJECTS}/routes", json={"routes": mine}).raise_for_status()
            took = time.perf_counter() - start
            done.set()
            prober.join()
    return [
        Row(
            "route-check-stall",
            f"slowest GET /hello during the check ({len(latencies)} GETs)",
            max(latencies) * 1000,
            "ms",
            baseline=median(latencies) * 1000,
            baseline_label="median",
            note=f"PUT of {ROUTES} routes against {PROJECTS * ROUTES:,} took {took:.1f} s",
        )
    ]


def main() -> None:
    print(table(run()))


if __name__ == "__main__":
    main()
