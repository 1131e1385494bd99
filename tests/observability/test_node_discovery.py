"""The node feed as the programs outside edgefn use it, against a real `edgefn dev`: the follow loop
and renderers of docs/cluster.md feeding a real nginx (traffic through it stops when the node is
drained and resumes when it is undrained) and HAProxy, Envoy's EDS file, Prometheus' own
`http_sd_configs` discovery (promtool), `edgefn nodes`, and the CP's `edgefn_nodes` gauge."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.procs import REPO, DevServer, dev_server, run_cli, wait_until
from tests.services import free_port

DOC = (REPO / "docs" / "cluster.md").read_text()
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PROMTOOL = "/usr/bin/promtool"
FEED_URL = "https://cp.example.com/v1/nodes"


def documented(marker: str, language: str = "sh") -> str:
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```{language}\n(.*?)```", DOC, re.S)
    assert found, marker
    return found.group(1)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    project = tmp_path_factory.mktemp("demo")
    shutil.copytree(REPO / "functions" / "hello", project / "functions" / "hello")
    shutil.copy(REPO / "edgefn.toml", project / "edgefn.toml")
    with dev_server(project, project / "logs") as server:
        yield server


def cli(dev: DevServer, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--api", dev.api, "--token", token or dev.token, env={"COLUMNS": "200"})


class Follower:
    """One documented `edgefn-follow` loop, run by bash in its own process group."""

    def __init__(
        self, home: Path, dev: DevServer, marker: str, target: str, replacements: dict[str, str]
    ) -> None:
        bin_dir = home / "bin"
        bin_dir.mkdir(exist_ok=True)
        script = bin_dir / "edgefn-follow"
        script.write_text(documented("follow-script"))
        script.chmod(0o755)
        token = home / "feed-token"
        token.write_text(dev.token)
        command = documented(f"render: {marker}").replace(FEED_URL, dev.api + "/v1/nodes")
        for documented_text, local in replacements.items():
            assert documented_text in command, documented_text
            command = command.replace(documented_text, local)
        self.file = Path(replacements[target])
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "EDGEFN_TOKEN_FILE": str(token),
            "EDGEFN_FOLLOW_INTERVAL_S": "0.2",
        }
        self.log = (home / f"{marker}.log").open("wb")
        self.proc = subprocess.Popen(
            ["bash", "-c", command],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.file.read_text() if self.file.exists() else ""

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.log.close()


@pytest.fixture
def followers() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        follower.stop()


def test_edgefn_nodes_shows_the_dev_node_to_its_developer_only(dev: DevServer) -> None:
    listed = cli(dev, "nodes", "--json")
    assert listed.returncode == 0, listed.stderr
    (node,) = json.loads(listed.stdout)["nodes"]
    assert (node["node_id"], node["state"]) == ("dev", "online")
    assert (node["public_url"], node["metrics_url"]) == (dev.ingress, dev.metrics)
    wait_until(lambda: "dev" in cli(dev, "nodes", "--json", "--selector", "region == 'local'").stdout)
    table = cli(dev, "nodes").stdout
    assert re.search(rf"\bdev\b.*\bonline\b.*{re.escape(dev.ingress)}.*region=local", table), table
    assert json.loads(cli(dev, "nodes", "--json", "--state", "offline").stdout) == {"nodes": []}

    stranger = run_cli("token", "--subject", "bob", "--state-dir", str(dev.state_dir)).stdout.strip()
    refused = cli(dev, "nodes", token=stranger)
    assert refused.returncode == 1
    assert "(403 forbidden): 'bob' is not an operator" in refused.stderr
    assert cli(dev, "drain", "dev", token=stranger).returncode == 1
    bad = cli(dev, "nodes", "--selector", "region ==")
    assert bad.returncode == 2 and "does not parse" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli(dev, "drain", "paris-9")
    assert missing.returncode == 1 and "no node 'paris-9' has checked in" in missing.stderr


def test_nginx_following_the_targets_stops_sending_to_a_drained_node(
    dev: DevServer, tmp_path: Path, followers: list[Follower]
) -> None:
    prefix, port = tmp_path / "nginx", free_port()
    prefix.mkdir()
    upstream, conf = prefix / "edgefn-upstream.conf", prefix / "nginx.conf"
    conf.write_text(
        f"""
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    include {upstream};
    server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://edgefn; }} }}
}}
"""
    )
    reload = f"{NGINX} -p {prefix} -c {conf} -s reload"
    follower = Follower(
        tmp_path,
        dev,
        "nginx",
        "/etc/nginx/edgefn-upstream.conf",
        {"/etc/nginx/edgefn-upstream.conf": str(upstream), "nginx -s reload": reload},
    )
    followers.append(follower)
    served = f"    server 127.0.0.1:{dev.ports['ingress']} max_fails=1 fail_timeout=5s;\n"
    wait_until(lambda: follower.text() == "upstream edgefn {\n" + served + "}\n", what="the upstream file")
    nginx = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], start_new_session=True
    )
    through = f"http://127.0.0.1:{port}/hello"

    def status() -> int:
        try:
            return httpx.get(through, timeout=5).status_code
        except httpx.TransportError:
            return 0

    try:
        assert wait_until(lambda: status() == 200, what="traffic through nginx")
        assert cli(dev, "drain", "dev").returncode == 0
        wait_until(lambda: "down;" in follower.text(), what="the drained node leaving the upstream")
        wait_until(lambda: status() == 502, what="nginx reloaded without the node")
        assert httpx.get(f"{dev.ingress}/hello").status_code == 200  # the runner itself still serves
        assert cli(dev, "undrain", "dev").returncode == 0
        wait_until(lambda: status() == 200, what="nginx sending to the node again")
    finally:
        cli(dev, "undrain", "dev")
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait(10)


def test_haproxy_accepts_its_backend_and_envoy_gets_its_endpoints(
    dev: DevServer, tmp_path: Path, followers: list[Follower]
) -> None:
    (tmp_path / "haproxy").mkdir()
    (tmp_path / "envoy").mkdir()
    backend, eds = tmp_path / "haproxy" / "edgefn.cfg", tmp_path / "envoy" / "edgefn-eds.yaml"
    haproxy = Follower(
        tmp_path,
        dev,
        "haproxy",
        "/etc/haproxy/conf.d/edgefn.cfg",
        {"/etc/haproxy/conf.d/edgefn.cfg": str(backend), "systemctl reload haproxy": "true"},
    )
    envoy = Follower(
        tmp_path, dev, "envoy", "/etc/envoy/edgefn-eds.yaml", {"/etc/envoy/edgefn-eds.yaml": str(eds)}
    )
    followers.extend([haproxy, envoy])
    ingress = dev.ports["ingress"]
    wait_until(lambda: f"127.0.0.1:{ingress} check" in haproxy.text(), what="the HAProxy backend")
    base = tmp_path / "haproxy.cfg"
    base.write_text(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
        f"frontend edge\n    bind 127.0.0.1:{free_port()}\n    default_backend edgefn\n"
    )
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(base), "-f", str(backend)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    loaded = wait_until(lambda: envoy.text() and yaml.safe_load(envoy.text()), what="the EDS file")
    (assignment,) = loaded["resources"]
    assert assignment["@type"] == "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
    assert assignment["cluster_name"] == "edgefn"
    (endpoint,) = assignment["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": ingress,
    }


def test_prometheus_discovers_the_runner_metrics_from_the_documented_config(
    dev: DevServer, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(dev.token)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        documented("prometheus", "yaml")
        .replace(FEED_URL, dev.api + "/v1/nodes")
        .replace("/etc/prometheus/edgefn-token", str(token))
    )
    found = subprocess.run(
        # promtool collects for the whole timeout; one refresh of a local feed takes milliseconds.
        [PROMTOOL, "check", "service-discovery", str(config), "edgefn-runners", "--timeout=8s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stdout + found.stderr
    (target,) = json.loads(found.stdout)
    assert target["labels"]["__address__"] == f"127.0.0.1:{dev.ports['metrics']}"
    assert target["labels"]["node_id"] == "dev" and target["labels"]["region"] == "local"
    assert httpx.get(f"http://{target['labels']['__address__']}/metrics").status_code == 200


def test_the_control_plane_counts_its_nodes(dev: DevServer) -> None:
    def online() -> bool:
        return 'edgefn_nodes{state="online"} 1.0' in httpx.get(f"{dev.api}/metrics").text

    wait_until(online, timeout=30, what="the edgefn_nodes gauge after a sweep")
    text = httpx.get(f"{dev.api}/metrics").text
    assert 'edgefn_nodes{state="offline"} 0.0' in text and 'edgefn_nodes{state="draining"} 0.0' in text
