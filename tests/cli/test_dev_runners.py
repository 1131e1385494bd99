"""`edgefn dev --runners 2`: a control plane and two runner processes with mutual TLS set up for
them, serving the project; `edgefn deploy` reaches every runner; stopping dev stops them all."""

from __future__ import annotations

import json
import signal
import socket
import ssl
from pathlib import Path

import httpx
import psutil
import pytest

from tests.cli.test_unavailable import assert_unavailable, stuck_project
from tests.procs import DevServer, dev_server, get, run_cli, wait_until
from tests.services import free_port, free_port_run


def runner_processes(state_dir: Path) -> list[psutil.Process]:
    """Live processes started with a runner state folder under `state_dir` (only ours)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if str(state_dir) in proc.environ().get("EDGEFN_RUNNER__STATE_DIR", ""):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_dev_with_runners_is_a_local_cluster(tmp_path: Path) -> None:
    project = stuck_project(tmp_path / "p")
    extra = ("--runners", "2", "--node-port", str(free_port()))
    ports = {"ingress": free_port_run(3), "metrics": free_port_run(3)}  # runner K: port + K
    with dev_server(project, tmp_path / "logs", extra=extra, ports=ports) as dev:
        runners = [f"http://127.0.0.1:{dev.ports['ingress'] + k}" for k in (1, 2)]
        for k, url in enumerate(runners, 1):
            assert f"runner runner-{k}: ingress {url}" in dev.stderr
            assert get(f"{url}/hello").text == "hello"
            assert_unavailable(get(f"{url}/stuck"), "stuckdemo.stuck")
        assert len(runner_processes(dev.state_dir)) == 2

        # Every node, the dev's own and both runners, reports the broken function's error.
        doc = json.loads(run_cli("status", "--json", cwd=project).stdout)
        errors = {
            n["node_id"]: d["error"]
            for n in doc["nodes"]
            for d in n["deployments"]
            if d["function_id"] == "stuckdemo.stuck" and d["state"] == "error"
        }
        assert set(errors) == {"dev", "runner-1", "runner-2"}, doc["nodes"]
        labels = {n["node_id"]: n["labels"] for n in doc["nodes"]}
        assert labels["runner-2"] == {"region": "local", "runner": "runner-2"}  # for selectors

        # A deploy from the project's folder (no flags) reaches the runners over their mTLS sync.
        source = project / "hello.wat"
        source.write_text(source.read_text().replace("hello", "howdy"))
        deployed = run_cli("deploy", cwd=project)
        assert deployed.returncode == 0, deployed.stderr
        for url in runners:
            wait_until(lambda u=url: get(f"{u}/hello").text == "howdy", timeout=30, what=f"v2 on {url}")
        assert "runner runner-1 serving" in (dev.state_dir / "runners" / "runner-1.log").read_text()

        # The runners' listener demands a client certificate from the dev's CA (mutual TLS).
        node_api = f"https://127.0.0.1:{extra[-1]}/v1/node/heartbeat"
        with pytest.raises(httpx.TransportError):
            ca = ssl.create_default_context(cafile=dev.state_dir / "ca" / "ca.pem")
            httpx.post(node_api, verify=ca, json={}, timeout=10)
    assert runner_processes(dev.state_dir) == []  # stopping dev stopped its runners
    assert all(closed(dev.ports["ingress"] + k) for k in (1, 2))

    # Started again on the same state folder, "ready" still means the runners answer: the states
    # the control plane kept from the first start do not count.
    with dev_server(project, tmp_path / "logs2", extra=extra, ports=ports):
        for url in runners:
            assert get(f"{url}/hello").text == "howdy"


def test_a_dev_stopped_while_its_runners_start_leaves_none_behind(tmp_path: Path) -> None:
    project = stuck_project(tmp_path / "p")
    extra = ("--runners", "2", "--node-port", str(free_port()))
    ports = {"ingress": free_port_run(3), "metrics": free_port_run(3)}
    dev = DevServer(project, tmp_path / "logs", extra=extra, ports=ports)
    try:
        wait_until(lambda: (dev.state_dir / "runners" / "runner-2.log").exists(), timeout=60)
        dev.proc.send_signal(signal.SIGTERM)  # most likely before it is ready; either way:
        assert dev.proc.wait(30) == 0, dev.stderr
    finally:
        dev.stop()
    assert "Traceback" not in dev.stderr
    wait_until(lambda: runner_processes(dev.state_dir) == [], timeout=15, what="no runner left")
