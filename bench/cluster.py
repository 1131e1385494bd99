"""A real control plane and N runners as `edgefn serve` processes, configured through TOML files.

The CP runs without its mTLS listener (tls.cert_file unset), so nodes call the API port over plain
HTTP; node tokens are still verified against the CA given in tls.ca_file and nodes.allow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bench.common  # noqa: F401  (first: it puts the repository on sys.path for `tests.*`)
from edgehost.security.ca import init_ca, issue_node
from edgehost.security.dev_tokens import load_or_create_signing_key, mint_token
from tests.procs import EDGEFN, EdgefnProcess
from tests.services import free_port


def ensure_ca(ca_dir: Path, node_ids: list[str]) -> None:
    """Creates the CA once and issues only missing node certificates (minting 1,000 takes a while)."""
    if not (ca_dir / "ca.pem").exists():
        init_ca(ca_dir, common_name="edgefn bench CA")
    for node_id in node_ids:
        if not (ca_dir / f"{node_id}.pem").exists():
            issue_node(ca_dir, node_id)


def _toml(data: dict[str, dict[str, object]]) -> str:
    """Enough TOML for flat tables of strings, numbers and string lists (json literals are valid TOML)."""
    lines: list[str] = []
    for table, values in data.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Cluster:
    root: Path
    api: str
    token: str
    cp: EdgefnProcess
    runners: list[EdgefnProcess] = field(default_factory=list)
    ingress: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # each runner's /metrics listener


def cp_config(root: Path, port: int, *, database_url: str, allow: list[str], interval_s: float) -> Path:
    path = root / "cp.toml"
    path.write_text(
        f'state_dir = "{root / "cp"}"\n'
        + _toml(
            {
                "api": {"host": "127.0.0.1", "port": port},
                "database": {"url": database_url},
                "auth": {"signing_key_file": str(root / "signing-key.pem")},
                "tls": {"ca_file": str(root / "ca" / "ca.pem")},
                "nodes": {"allow": allow},
                "heartbeat": {"interval_s": interval_s},
            }
        )
    )
    return path


def runner_config(
    root: Path, node_id: str, api: str, interval_s: float, watch: bool
) -> tuple[Path, int, int]:
    """The runner's TOML file, its ingress port and its metrics port."""
    port, metrics_port = free_port(), free_port()
    path = root / f"{node_id}.toml"
    path.write_text(
        _toml(
            {
                "runner": {
                    "node_id": node_id,
                    "control_plane_url": api,
                    "host": "127.0.0.1",
                    "ingress_port": port,
                    "metrics_port": metrics_port,
                    "state_dir": str(root / node_id / "state"),
                    "cache_dir": str(root / node_id / "cache"),
                },
                "tls": {
                    "cert_file": str(root / "ca" / f"{node_id}.pem"),
                    "key_file": str(root / "ca" / f"{node_id}.key"),
                },
                "heartbeat": {"interval_s": interval_s, "watch": watch},
            }
        )
    )
    return path, port, metrics_port


@contextmanager
def cluster(
    root: Path,
    *,
    runners: int,
    database_url: str = "",
    interval_s: float = 5.0,
    watch: bool = True,
    extra_nodes: list[str] | None = None,
    env: dict[str, str] | None = None,
    runner_prefix: list[str] | None = None,
) -> Iterator[Cluster]:
    """CP plus `runners` runner processes; with watch=False the runners only heartbeat (`heartbeat.watch`).

    `interval_s` goes to the CP too: its replies set the runners' heartbeat interval. `runner_prefix`
    is a command the runners start through, which execs the `edgefn` command line that follows it
    (bench/cpu_budget.py's launcher, which joins a cgroup first)."""
    node_ids = [f"bench-{i}" for i in range(runners)]
    ensure_ca(root / "ca", node_ids)
    key = load_or_create_signing_key(root / "signing-key.pem")
    token = mint_token(key_pem=key, subject="bench", ttl_s=3600)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    db = database_url or f"sqlite:///{root / 'cp' / 'edgefn.db'}"
    config = cp_config(
        root, port, database_url=db, allow=node_ids + (extra_nodes or []), interval_s=interval_s
    )
    logs = root / "logs"
    with ExitStack() as stack:
        cp = EdgefnProcess(
            ["serve", "--mode", "control-plane", "--config", str(config)],
            cwd=root,
            env=env,
            log_dir=logs,
            name="cp",
        )
        stack.callback(cp.stop)
        cp.wait_port(port, 60)
        result = Cluster(root, api, token, cp)
        for node_id in node_ids:
            path, ingress_port, metrics_port = runner_config(root, node_id, api, interval_s, watch)
            args = ["serve", "--mode", "runner", "--config", str(path)]
            command = EDGEFN
            if runner_prefix:
                command, *prefix = runner_prefix
                args = [*prefix, EDGEFN, *args]
            proc = EdgefnProcess(args, cwd=root, env=env, log_dir=logs, name=node_id, command=command)
            stack.callback(proc.stop)
            result.runners.append(proc)
            result.ingress.append(f"http://127.0.0.1:{ingress_port}")
            result.metrics.append(f"http://127.0.0.1:{metrics_port}/metrics")
        for proc, url in zip(result.runners, result.ingress, strict=True):
            proc.wait_port(int(url.rsplit(":", 1)[1]), 60)
        yield result
