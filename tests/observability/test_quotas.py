"""Requirement 14 through real `edgefn dev` processes: rate windows, tenant isolation, concurrency, Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.observability.metrics_text import sample
from tests.observability.projects import project
from tests.procs import dev_server, get, run_cli, wait_until


def test_window_retry_after_and_tenant_isolation(tmp_path: Path) -> None:
    alpha = project(tmp_path / "alpha", "alpha", ("hello",), prefix="/a")
    beta = project(tmp_path / "beta", "beta", ("hello",), prefix="/b")
    with dev_server(alpha, tmp_path / "logs", env={"EDGEFN_QUOTAS__PER_MINUTE": "3"}) as dev:
        deployed = run_cli("deploy", "--project", str(beta), "--api", dev.api, "--token", dev.token)
        assert deployed.returncode == 0, deployed.stderr
        first = time.monotonic()
        assert get(f"{dev.ingress}/a/hello").status_code == 200
        time.sleep(2.1)  # so the window's oldest hit is measurably older than the refusal
        assert [get(f"{dev.ingress}/a/hello").status_code for _ in range(2)] == [200, 200]
        refused = get(f"{dev.ingress}/a/hello")
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        retry_after = int(refused.headers["retry-after"])
        # The oldest hit leaves the window 60 s after it was made: at least 2 s of that are gone.
        assert 60 - (time.monotonic() - first) - 1 <= retry_after <= 58
        # Beta's window is its own: alpha's exhausted window does not touch it.
        beta_codes = wait_until(
            lambda: (r := get(f"{dev.ingress}/b/hello")).status_code == 200 and [r.status_code],
            what="beta deployed",
        )
        beta_codes += [get(f"{dev.ingress}/b/hello").status_code for _ in range(3)]
        assert beta_codes == [200, 200, 200, 429]
        assert get(f"{dev.ingress}/a/hello").status_code == 429


def test_concurrency_cap_refuses_at_once_under_parallel_requests(tmp_path: Path) -> None:
    proj = project(tmp_path / "p", "conc", ("slow", "hello"))
    env = {"EDGEFN_QUOTAS__MAX_CONCURRENT": "2"}
    with dev_server(proj, tmp_path / "logs", env=env) as dev, ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(httpx.get, f"{dev.ingress}/slow", timeout=120) for _ in range(2)]
        wait_until(
            lambda: sample(get(f"{dev.metrics}/metrics").text, "edgefn_quota_running", tenant="conc") == 2,
            what="two slow invocations running",
        )
        refused = get(f"{dev.ingress}/hello")
        assert not any(f.done() for f in slow)  # answered while both slots were held: no queueing
        assert refused.status_code == 429
        assert refused.json()["error"] == "quota_exceeded"
        assert refused.headers["retry-after"] == "1"
        assert [f.result().status_code for f in slow] == [200, 200]
        assert get(f"{dev.ingress}/hello").status_code == 200  # the slots came back
        assert sample(get(f"{dev.metrics}/metrics").text, "edgefn_quota_running", tenant="conc") == 0


def test_shared_counts_hold_across_processes_and_survive_a_crash(tmp_path: Path) -> None:
    from edgehost.plugins.quotas import SharedCounts

    table = tmp_path / "concurrency.table"
    here = SharedCounts(table)
    assert [here.try_acquire("t", 3) for _ in range(2)] == [0, 1]
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; from edgehost.plugins.quotas import SharedCounts\n"
            f"c = SharedCounts(Path({str(table)!r}))\n"
            "print(c.try_acquire('t', 3), c.try_acquire('t', 3), flush=True)\n"
            "sys.stdin.readline(); os._exit(0)  # dies holding its slot\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().split() == ["2", "3"]  # saw our two; the third slot, then refused
        assert here.try_acquire("t", 3) == 3  # its slot counts here while it lives
        assert here.in_flight() == {"t": 3}
        child.stdin.write("exit\n")
        child.stdin.flush()
        assert child.wait(10) == 0
    finally:
        child.kill()
    assert here.try_acquire("t", 3) == 2  # the dead process's slot was reclaimed
    here.release("t")
    assert here.in_flight() == {"t": 2}


def test_redis_window_is_shared_by_two_runners_and_survives_redis_going_away(
    tmp_path: Path, redis_server
) -> None:
    env = {"EDGEFN_QUOTAS__PER_MINUTE": "3", "EDGEFN_QUOTAS__STORAGE": redis_server.url}
    a_dir = project(tmp_path / "a", "shared", ("hello",))
    b_dir = project(tmp_path / "b", "shared", ("hello",))
    with (
        dev_server(a_dir, tmp_path / "a-logs", env=env) as a,
        dev_server(b_dir, tmp_path / "b-logs", env=env) as b,
    ):

        def hit(dev: object) -> int:
            return get(f"{dev.ingress}/hello").status_code  # type: ignore[attr-defined]

        assert [hit(a), hit(a), hit(b)] == [200, 200, 200]
        assert [hit(b), hit(a)] == [429, 429]  # B's hit counted on A's window and the reverse
        try:
            redis_server.stop()
            # B decides alone now: a fresh per-process window, never a 500.
            assert [hit(b) for _ in range(4)] == [200, 200, 200, 429]
            assert "quota storage unreachable" in b.stderr
            text = get(f"{b.metrics}/metrics").text
            assert sample(text, "edgefn_quota_storage_fallbacks_total") == 4
            assert sample(text, "edgefn_quota_storage_degraded") == 1
        finally:
            redis_server.start()
        # Redis is back (empty): once B probes it again, B's and A's hits meet in one window again.
        wait_until(lambda: hit(b) == 200, what="B admitting through Redis again")
        assert [hit(a), hit(a), hit(a), hit(b)] == [200, 200, 429, 429]
        assert "quota storage is back" in b.stderr
        assert sample(get(f"{b.metrics}/metrics").text, "edgefn_quota_storage_degraded") == 0
