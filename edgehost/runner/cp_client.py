"""The runner's client of the control plane's node API: heartbeats, the desired-state watch, reports.

Its own module because both the sync agent and the tail forwarder talk to the control plane
through it, and neither should import the other.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from edgehost.protocol import DesiredState, Heartbeat, HeartbeatReply, Report
from edgehost.security.node_token import NodeSigner

WATCH_TIMEOUT_S = 25.0


class NodeCredentials:
    """Signs a fresh short-lived token per request with the node's certificate key (parsed once)."""

    def __init__(self, node_id: str, cert_file: Path, key_file: Path) -> None:
        self.node_id = node_id
        self._signer = NodeSigner(
            node_id=node_id, cert_pem=cert_file.read_bytes(), key_pem=key_file.read_bytes()
        )

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._signer.token()}"}


class ControlPlaneClient:
    def __init__(self, client: httpx.AsyncClient, credentials: NodeCredentials) -> None:
        self.client = client
        self.credentials = credentials

    async def heartbeat(self, beat: Heartbeat) -> HeartbeatReply:
        response = await self.client.post(
            "/v1/node/heartbeat",
            content=msgspec.json.encode(beat),
            headers={**self.credentials.headers(), "content-type": "application/json"},
        )
        response.raise_for_status()
        return msgspec.json.decode(response.content, type=HeartbeatReply)

    async def watch(self, revision: int) -> DesiredState | None:
        response = await self.client.get(
            "/v1/node/watch",
            params={"revision": revision, "timeout": WATCH_TIMEOUT_S},
            headers=self.credentials.headers(),
            timeout=WATCH_TIMEOUT_S + 10,
        )
        response.raise_for_status()
        if response.status_code == 204:
            return None
        return msgspec.json.decode(response.content, type=DesiredState)

    async def report(self, report: Report) -> None:
        response = await self.client.post(
            "/v1/node/reports",
            content=msgspec.json.encode(report),
            headers={**self.credentials.headers(), "content-type": "application/json"},
        )
        response.raise_for_status()
