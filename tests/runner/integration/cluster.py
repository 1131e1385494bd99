"""A control plane and runners as real `edgefn serve` processes, with mTLS between them.

Everything is configured the way an operator would: `edgefn ca init/issue/server`, TOML settings
files, `edgefn token --config`, `edgefn deploy`, `edgefn status --json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.procs import EdgefnProcess, run_cli, wait_until
from tests.services import S3Server, free_port

HEARTBEAT_S = 0.5


def toml(settings: Mapping[str, Any], prefix: str = "") -> str:
    """Nested dicts of scalars and string lists as TOML (JSON scalars are valid TOML values)."""
    top, tables = [], []
    for key, value in settings.items():
        if isinstance(value, Mapping) and key != "labels":
            tables.append(f"\n[{prefix}{key}]\n" + toml(value, f"{prefix}{key}."))
        else:
            top.append(f"{key} = {_value(value)}")
    return "\n".join(top) + "\n" + "".join(tables)


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


class Cluster:
    """Owns every process it starts; `close()` stops them all."""

    def __init__(self, root: Path, s3: S3Server | None = None, database_url: str = "") -> None:
        self.root = root
        self.ca = root / "ca"
        self.logs = root / "logs"
        self.s3 = s3
        self.database_url = database_url  # SQLite in the CP's state folder when empty
        self.cp_sections: Mapping[str, Mapping[str, Any]] = {}
        self.stack = ExitStack()
        _ok(run_cli("ca", "init", "--dir", str(self.ca)))
        _ok(run_cli("ca", "server", "127.0.0.1", "--dir", str(self.ca)))
        self.api_port, self.node_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.cp_config = root / "cp.toml"
        self.cp: EdgefnProcess | None = None
        self.allowed: list[str] = []
        self.token = ""

    def cp_settings(self) -> dict[str, Any]:
        artifacts: dict[str, Any] = {"backend": "local"}
        if self.s3 is not None:
            artifacts = {
                "backend": "s3",
                "s3": {
                    "endpoint": self.s3.endpoint,
                    "access_key": self.s3.access_key,
                    "secret_key": self.s3.secret_key,
                    "bucket": f"runner-{self.api_port}",
                    "secure": self.s3.secure,
                    "region": self.s3.region,
                },
            }
        settings: dict[str, Any] = {
            "state_dir": str(self.root / "cp"),
            "api": {"host": "127.0.0.1", "port": self.api_port, "node_port": self.node_port},
            "tls": {
                "ca_file": str(self.ca / "ca.pem"),
                "cert_file": str(self.ca / "server.pem"),
                "key_file": str(self.ca / "server.key"),
            },
            "nodes": {"allow": self.allowed},
            "auth": {"signing_key_file": str(self.root / "signing-key.pem")},
            "heartbeat": {"interval_s": HEARTBEAT_S, "offline_after_s": 30},
            "artifacts": artifacts,
        }
        if self.database_url:
            settings["database"] = {"url": self.database_url}
        for name, values in self.cp_sections.items():
            settings[name] = {**settings.get(name, {}), **values}
        return settings

    def start_cp(self, allow: list[str], **sections: Mapping[str, Any]) -> None:
        """Starts the CP; `sections` (e.g. `heartbeat={"offline_after_s": 3}`) stay for restarts."""
        self.allowed = allow
        self.cp_sections = sections or self.cp_sections
        self.cp_config.write_text(toml(self.cp_settings()))
        self.token = _ok(run_cli("token", "--subject", "dev", "--config", str(self.cp_config))).strip()
        self.cp = EdgefnProcess(
            ["serve", "--mode", "control-plane", "--config", str(self.cp_config)],
            cwd=self.root,
            env=None,
            log_dir=self.logs,
            name="cp",
        )
        self.stack.callback(self.cp.stop)
        self.cp.wait_port(self.api_port)
        self.cp.wait_port(self.node_port)

    def stop_cp(self) -> None:
        assert self.cp is not None
        self.cp.stop()

    def start_runner(
        self, node_id: str, labels: Mapping[str, str], *, workers: int = 1, **sections: Mapping[str, Any]
    ) -> Runner:
        runner = Runner(self, node_id, dict(labels), workers, sections)
        self.stack.callback(runner.stop)
        runner.start()
        return runner

    def cli(self, *args: str) -> list[str]:
        """An `edgefn` command line aimed at this cluster's CP as its developer."""
        return [*args, "--api", self.api, "--token", self.token]

    def deploy(self, project: Path, *args: str) -> str:
        result = run_cli(*self.cli("deploy", "--project", str(project), *args))
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(_ok(run_cli(*self.cli("status", "--json"))))
        return doc

    def node_states(self, node_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        for node in self.status()["nodes"]:
            if node["node_id"] == node_id:
                return {(d["function_id"], d["version"]): d for d in node["deployments"]}
        return {}

    def close(self) -> None:
        self.stack.close()


class Runner:
    """`edgefn serve --mode runner` on free ports; restartable on the same state and cache folders."""

    def __init__(
        self,
        cluster: Cluster,
        node_id: str,
        labels: dict[str, str],
        workers: int,
        sections: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.cluster = cluster
        self.node_id = node_id
        self.dir = cluster.root / node_id
        self.cache_dir = self.dir / "cache"
        self.state_dir = self.dir / "state"
        _ok(run_cli("ca", "issue", node_id, "--dir", str(cluster.ca)))
        self.ingress_port, self.metrics_port = free_port(), free_port()
        self.ingress = f"http://127.0.0.1:{self.ingress_port}"
        self.metrics = f"http://127.0.0.1:{self.metrics_port}"
        settings: dict[str, Any] = {
            "runner": {
                "node_id": node_id,
                "labels": labels,
                "control_plane_url": f"https://127.0.0.1:{cluster.node_port}",
                "host": "127.0.0.1",
                "ingress_port": self.ingress_port,
                "metrics_port": self.metrics_port,
                "workers": workers,
                "cache_dir": str(self.cache_dir),
                "state_dir": str(self.state_dir),
            },
            "tls": {
                "ca_file": str(cluster.ca / "ca.pem"),
                "cert_file": str(cluster.ca / f"{node_id}.pem"),
                "key_file": str(cluster.ca / f"{node_id}.key"),
            },
            "heartbeat": {"interval_s": HEARTBEAT_S},
        }
        for name, values in sections.items():
            settings.setdefault(name, {}).update(values)
        self.config = self.dir / "runner.toml"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(toml(settings))
        self.proc: EdgefnProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = EdgefnProcess(
            ["serve", "--mode", "runner", "--config", str(self.config)],
            cwd=self.dir,
            env=None,
            log_dir=self.cluster.logs,
            name=f"{self.node_id}-{self.starts}",
        )
        self.proc.wait_port(self.metrics_port)
        self.proc.wait_port(self.ingress_port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.ingress + path, timeout=10, **kwargs)

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the runner's /metrics, or None when it is absent."""
        text = httpx.get(self.metrics + "/metrics", timeout=10).text
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            head, _, value = line.rpartition(" ")
            if head == (f"{name}{{{want}}}" if labels else name):
                return float(value)
        return None

    def wait_serving(self, path: str, status: int = 200, what: str = "") -> httpx.Response:
        response: httpx.Response = wait_until(
            lambda: (r := self.get(path)).status_code == status and r,
            timeout=30,
            what=what or f"{self.node_id} answering {status} on {path}",
        )
        return response


def clusters(root: Path, s3: S3Server | None = None, database_url: str = "") -> Iterator[Cluster]:
    cluster = Cluster(root, s3, database_url)
    try:
        yield cluster
    finally:
        cluster.close()
