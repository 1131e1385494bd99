"""bench/baseline_app.py's raw ASGI callable with WORKERS > 1: served from that many spawned granian worker
processes, as a multi-worker runner serves its ingress (the floor bench/scaling.py compares edgefn with)."""

from __future__ import annotations

from pathlib import Path

import psutil

from bench import servers
from bench.baseline_app import BODY
from tests.procs import get, wait_until


def spawned_workers(pid: int) -> list[psutil.Process]:
    """multiprocessing's spawned children (`spawn_main`), not its resource tracker."""
    return [p for p in psutil.Process(pid).children() if "spawn_main" in " ".join(p.cmdline())]


def test_the_raw_asgi_baseline_serves_from_as_many_spawned_workers_as_asked(tmp_path: Path) -> None:
    with servers.baseline(tmp_path, "asgi", workers=2) as target:
        wait_until(lambda: len(spawned_workers(target.pid)) == 2, 30, what="two worker processes")
        response = get(target.url)
        assert response.status_code == 200
        assert response.text == BODY
        assert response.headers["content-type"] == "text/plain"
        assert get(target.url.replace("/hello", "/other")).status_code == 404


def test_one_worker_is_the_embedded_server_in_one_process(tmp_path: Path) -> None:
    with servers.baseline(tmp_path, "asgi") as target:
        assert get(target.url).text == BODY
        assert psutil.Process(target.pid).children() == []
