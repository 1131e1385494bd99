"""A real control plane process and the clients that drive it: developers over HTTP, nodes over mTLS."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import wasmtime

from edgehost.protocol import CachedFunction, DesiredState, Heartbeat, HeartbeatReply, Report
from edgehost.security.dev_tokens import mint_token
from edgehost.security.node_token import sign_node_token
from edgehost.security.tls import client_ssl_context
from tests.procs import REPO, EdgefnProcess, serving, wait_until
from tests.services import S3Server, free_port

# What a registration must name (requirement 1.1), with the example function's values.
PARAMS: dict[str, Any] = {"entrypoint": "handle", "memory_pages": 16, "max_execution_ms": 50}
HELLO_WASM = bytes(wasmtime.wat2wasm((REPO / "functions/hello/hello.wat").read_text()))


def variant(tag: str) -> bytes:
    """HELLO_WASM plus a custom section: other bytes, the same valid module."""
    payload = b"\x04race" + tag.encode()
    return HELLO_WASM + b"\x00" + bytes([len(payload)]) + payload


@dataclass
class Pki:
    """`edgefn ca` output: the CA, the CP's server certificate, node certificates."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    def node(self, node_id: str) -> tuple[Path, Path]:
        from edgehost.security.ca import issue_node

        cert, key = self.dir / f"{node_id}.pem", self.dir / f"{node_id}.key"
        if not cert.exists():
            issue_node(self.dir, node_id)
        return cert, key


@dataclass
class CpConfig:
    """What goes into a CP's `cp.toml`; two replicas share everything but their ports."""

    database_url: str
    s3: S3Server
    pki: Pki
    signing_key: Path
    state_dir: Path
    bucket: str = field(default_factory=lambda: f"cp-{secrets.token_hex(4)}")
    allow: Sequence[str] = ()
    offline_after_s: float = 4.0
    cpu_seconds_per_day: float = 10.0
    max_upload_bytes: int = 65536
    backend: str = "s3"  # or "local": the CP's own folder, behind URLs it signs and serves
    operators: Sequence[str] = ()

    def write(self, path: Path, port: int, node_port: int) -> Path:
        allow = ", ".join(f'"{n}"' for n in self.allow)
        operators = ", ".join(f'"{n}"' for n in self.operators)
        artifacts = '[artifacts]\nbackend = "local"'
        if self.backend == "s3":
            artifacts = f"""[artifacts]
backend = "s3"
[artifacts.s3]
endpoint = "{self.s3.endpoint}"
access_key = "{self.s3.access_key}"
secret_key = "{self.s3.secret_key}"
bucket = "{self.bucket}"
secure = false
region = "{self.s3.region}"
"""
        path.write_text(
            f"""
state_dir = "{self.state_dir}"
[database]
url = "{self.database_url}"
{artifacts}
[api]
host = "127.0.0.1"
port = {port}
node_port = {node_port}
max_upload_bytes = {self.max_upload_bytes}
[tls]
ca_file = "{self.pki.ca}"
cert_file = "{self.pki.dir / "server.pem"}"
key_file = "{self.pki.dir / "server.key"}"
[nodes]
allow = [{allow}]
[auth]
signing_key_file = "{self.signing_key}"
operators = [{operators}]
[heartbeat]
interval_s = 1
offline_after_s = {self.offline_after_s}
[quotas]
cpu_seconds_per_day = {self.cpu_seconds_per_day}
"""
        )
        return path


class ControlPlane(EdgefnProcess):
    """`edgefn serve --mode control-plane` on free ports; `.api` and `.node` are base URLs."""

    def __init__(self, config: CpConfig, work: Path, name: str = "cp") -> None:
        self.config = config
        self.port, self.node_port = free_port(), free_port()
        self.config_file = config.write(work / f"{name}.toml", self.port, self.node_port)
        super().__init__(
            ["serve", "--mode", "control-plane", "--config", str(self.config_file)],
            cwd=work,
            env=None,
            log_dir=work / "logs",
            name=name,
        )
        self.api = f"http://127.0.0.1:{self.port}"
        self.node = f"https://127.0.0.1:{self.node_port}"

    def wait_ready(self) -> None:
        """Until both listeners accept connections; fails at once with stderr if the process died."""
        for port in (self.port, self.node_port):
            wait_until(lambda p=port: self._listening(p), timeout=60, what=f"the CP on port {port}")

    def _listening(self, port: int) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the CP exited with {self.proc.returncode}:\n{self.stderr[-3000:]}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def token(self, subject: str, ttl_s: int = 3600) -> str:
        return mint_token(key_pem=self.config.signing_key.read_bytes(), subject=subject, ttl_s=ttl_s)

    def developer(self, subject: str) -> Developer:
        return Developer(httpx.Client(base_url=self.api, headers=bearer(self.token(subject)), timeout=30))

    def node_client(self, node_id: str, *, labels: dict[str, str] | None = None) -> NodeClient:
        cert, key = self.config.pki.node(node_id)
        return NodeClient(self.node, node_id, cert, key, self.config.pki.ca, labels or {})


def control_plane(config: CpConfig, work: Path, name: str = "cp") -> AbstractContextManager[ControlPlane]:
    return serving(ControlPlane(config, work, name))


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class Developer:
    """The developer API as one subject sees it."""

    http: httpx.Client

    def create(self, project: str, name: str, **params: Any) -> httpx.Response:
        return self.http.post(f"/v1/projects/{project}/functions", json={"name": name, **PARAMS, **params})

    def upload(self, project: str, name: str, wasm: bytes = HELLO_WASM, **params: Any) -> dict[str, Any]:
        """Registers a version, PUTs `wasm` to its presigned URL; returns the registration."""
        created = self.create(project, name, **params)
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        put = httpx.put(body["upload_url"], content=wasm, timeout=30)
        assert put.status_code == 200, put.text
        return body

    def finalize(self, project: str, name: str, version: int) -> httpx.Response:
        return self.http.post(f"/v1/projects/{project}/functions/{name}/versions/{version}/finalize")

    def publish(self, project: str, name: str, wasm: bytes = HELLO_WASM, **params: Any) -> int:
        """A ready version of `name`."""
        version = int(self.upload(project, name, wasm, **params)["version"])
        done = self.finalize(project, name, version)
        assert done.status_code == 200 and done.json()["state"] == "ready", done.text
        return version

    def deploy(self, project: str, name: str, selector: str, version: int | None = None) -> httpx.Response:
        body: dict[str, Any] = {"function": name, "selector": selector}
        if version is not None:
            body["version"] = version
        return self.http.post(f"/v1/projects/{project}/deployments", json=body)

    def rollback(self, project: str, name: str, to_version: int) -> httpx.Response:
        return self.http.post(
            f"/v1/projects/{project}/functions/{name}/rollback", json={"to_version": to_version}
        )


class NodeClient:
    """One node: mTLS with its certificate, and a fresh x5c token on every request."""

    def __init__(
        self, base: str, node_id: str, cert: Path, key: Path, ca: Path, labels: dict[str, str]
    ) -> None:
        self.node_id = node_id
        self.cert_pem, self.key_pem = cert.read_bytes(), key.read_bytes()
        self.labels = labels
        self.tls = client_ssl_context(ca, cert, key)
        self.http = httpx.Client(base_url=base, verify=self.tls, timeout=30)

    def token(self) -> str:
        return sign_node_token(node_id=self.node_id, cert_pem=self.cert_pem, key_pem=self.key_pem)

    def post(self, path: str, message: msgspec.Struct, token: str | None = None) -> httpx.Response:
        return self.http.post(
            path, content=msgspec.json.encode(message), headers=bearer(token or self.token())
        )

    def heartbeat(
        self,
        functions: Sequence[CachedFunction] = (),
        cpu_usage: dict[str, float] | None = None,
        node_id: str | None = None,
    ) -> HeartbeatReply:
        beat = Heartbeat(
            node_id=node_id or self.node_id,
            labels=self.labels,
            functions=tuple(functions),
            cpu_usage=cpu_usage or {},
            cpu_percent=12.5,
            mem_bytes=1 << 20,
        )
        response = self.post("/v1/node/heartbeat", beat)
        assert response.status_code == 200, response.text
        return msgspec.json.decode(response.content, type=HeartbeatReply)

    def watch(self, revision: int, timeout: float = 20.0) -> httpx.Response:
        return self.http.get(
            "/v1/node/watch",
            params={"revision": revision, "timeout": timeout},
            headers=bearer(self.token()),
            timeout=timeout + 10,
        )

    def desired_after(self, revision: int, timeout: float = 20.0) -> DesiredState:
        response = self.watch(revision, timeout)
        assert response.status_code == 200, (response.status_code, response.text)
        return msgspec.json.decode(response.content, type=DesiredState)

    def report(self, report: Report) -> httpx.Response:
        return self.post("/v1/node/reports", report)

    def close(self) -> None:
        self.http.close()


def deployed(reply: HeartbeatReply | DesiredState) -> dict[str, int]:
    desired = reply.desired if isinstance(reply, HeartbeatReply) else reply
    return {f.function_id: f.version for f in desired.functions}


def cached(reply: HeartbeatReply) -> list[CachedFunction]:
    """The inventory a node would report after carrying out `reply`."""
    return [
        CachedFunction(function_id=f.function_id, version=f.version, state="cached")
        for f in reply.desired.functions
    ]


def logged(cp: ControlPlane, text: str) -> str:
    return str(wait_until(lambda: next((ln for ln in cp.stderr.splitlines() if text in ln), ""), what=text))
