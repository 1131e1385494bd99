"""`edgefn dev --runners N`: a local cluster, the dev's control plane and N edge runner processes.

Each runner is `edgefn serve --mode runner`, exactly as in production, set up the way
docs/cluster.md does by hand: a certificate from the dev's private CA (`edgehost.security.ca`), the
control plane's node listener with mutual TLS on `--node-port` and a server certificate for
127.0.0.1, and the runner's node id in `nodes.allow`. Runner K (1..N) serves ingress on
`--ingress-port` + K and metrics on `--metrics-port` + K; its state, cache and log live in
`{state-dir}/runners/`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgehost.cli.errors import USAGE, CliError
from edgehost.client import ApiClient
from edgehost.security.ca import issue_node, issue_server

SERVER_HOST = "127.0.0.1"  # runners reach the dev's node listener here; its certificate names it
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class LocalRunner:
    node_id: str
    ingress_port: int
    metrics_port: int
    log: Path


def plan_runners(count: int, ingress_port: int, metrics_port: int, state_dir: Path) -> list[LocalRunner]:
    """Runner K (1..count): node id `runner-K`, ports offset by K from the dev's own."""
    return [
        LocalRunner(
            f"runner-{k}", ingress_port + k, metrics_port + k, state_dir / "runners" / f"runner-{k}.log"
        )
        for k in range(1, count + 1)
    ]


def prepare_certificates(ca_dir: Path, runners: Collection[LocalRunner]) -> dict[str, Path]:
    """The node listener's server certificate (for 127.0.0.1) and each runner's node certificate,
    issued by the dev's CA once and reused by later starts."""
    if not (ca_dir / "server.pem").exists():
        issue_server(ca_dir, SERVER_HOST)
    for runner in runners:
        if not (ca_dir / f"{runner.node_id}.pem").exists():
            issue_node(ca_dir, runner.node_id)
    return {"ca": ca_dir / "ca.pem", "cert": ca_dir / "server.pem", "key": ca_dir / "server.key"}


def runner_env(
    runner: LocalRunner, *, host: str, node_port: int, ca_dir: Path, state_dir: Path
) -> dict[str, str]:
    """The runner's settings as `EDGEFN_*` variables (docs/settings.md): one process, no workers;
    labels `region = "local"` (as the dev's own node) and `runner = "runner-K"`, for selectors."""
    own = state_dir / "runners" / runner.node_id
    return {
        "EDGEFN_RUNNER__NODE_ID": runner.node_id,
        "EDGEFN_RUNNER__LABELS": f'{{region = "local", runner = "{runner.node_id}"}}',
        "EDGEFN_RUNNER__CONTROL_PLANE_URL": f"https://{SERVER_HOST}:{node_port}",
        "EDGEFN_RUNNER__HOST": host,
        "EDGEFN_RUNNER__INGRESS_PORT": str(runner.ingress_port),
        "EDGEFN_RUNNER__METRICS_PORT": str(runner.metrics_port),
        "EDGEFN_RUNNER__WORKERS": "1",
        "EDGEFN_RUNNER__STATE_DIR": str(own / "state"),
        "EDGEFN_RUNNER__CACHE_DIR": str(own / "cache"),
        "EDGEFN_TLS__CA_FILE": str(ca_dir / "ca.pem"),
        "EDGEFN_TLS__CERT_FILE": str(ca_dir / f"{runner.node_id}.pem"),
        "EDGEFN_TLS__KEY_FILE": str(ca_dir / f"{runner.node_id}.key"),
    }


def check_ports(host: str, runners: Collection[LocalRunner], node_port: int) -> None:
    """CliError (exit 2) naming a port another process holds or past 65535, before anything starts."""
    from edgehost.serving import PortInUse, check_free  # the server stack: not for `edgefn dev --help`

    last = max(p for r in runners for p in (r.ingress_port, r.metrics_port))
    if last > 65535:
        raise CliError(f"--runners needs ports up to {last}; lower --ingress-port/--metrics-port", USAGE)
    try:
        check_free(SERVER_HOST, node_port)
        for runner in runners:
            check_free(host, runner.ingress_port)
            check_free(host, runner.metrics_port)
    except PortInUse as exc:
        raise CliError(
            f"{exc}; --runners uses --ingress-port/--metrics-port + 1..N and --node-port", USAGE
        ) from None


@asynccontextmanager
async def runner_processes(
    runners: Collection[LocalRunner], *, host: str, node_port: int, ca_dir: Path, state_dir: Path
) -> AsyncIterator[dict[str, subprocess.Popen[bytes]]]:
    """Starts one `edgefn serve --mode runner` per runner, logging to its file; stops every one
    it started (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) however the block ends."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for runner in runners:
            runner.log.parent.mkdir(parents=True, exist_ok=True)
            env = {
                **os.environ,
                **runner_env(runner, host=host, node_port=node_port, ca_dir=ca_dir, state_dir=state_dir),
            }
            with runner.log.open("wb") as log:
                procs[runner.node_id] = subprocess.Popen(
                    [sys.executable, "-m", "edgehost", "serve", "--mode", "runner"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C reaches the dev, which stops them in order
                )
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


async def wait_runners_serving(
    runners: Collection[LocalRunner],
    procs: dict[str, subprocess.Popen[bytes]],
    *,
    api_url: str,
    token: str,
    functions: Collection[str],
    since: float,
    host: str,
    timeout: float = 60.0,
) -> list[str]:
    """Waits until every runner listens, has heartbeated since `since` (epoch seconds: the states
    the control plane kept from an earlier start are not proof) and reported each deployed function
    id (cached or error); CliError if one exits. Returns the runners still not there at `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = [r.node_id for r in runners]
    while pending and loop.time() < deadline:
        for runner in runners:
            code = procs[runner.node_id].poll()
            if code is not None:
                tail = runner.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                raise CliError(
                    f"{runner.node_id} exited ({code}); its log {runner.log} ends:\n" + "\n".join(tail)
                )
        doc = await asyncio.to_thread(_status, api_url, token)
        settled = {
            node["node_id"]
            for node in doc["nodes"]
            if node["last_heartbeat"]
            and dt.datetime.fromisoformat(node["last_heartbeat"]).timestamp() >= since
            and set(functions)
            <= {d["function_id"] for d in node["deployments"] if d["state"] in ("cached", "error")}
        }
        listening = {r.node_id for r in runners if await _listening(host, r.ingress_port)}
        pending = [node_id for node_id in pending if node_id not in settled & listening]
        if pending:
            await asyncio.sleep(0.2)
    return pending


async def _listening(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


def _status(api_url: str, token: str) -> Any:
    with ApiClient(api_url, token) as client:
        return client.call("GET", "/v1/status")
