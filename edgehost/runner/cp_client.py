"""The runner's client of the control plane's node API: heartbeats, the desired-state watch, reports.

Its own module because both the sync agent and the tail forwarder talk to the control plane
through it, and neither should import the other.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from edgehost.protocol import LONG_POLL_S, DesiredState, Heartbeat, HeartbeatReply, Report
from edgehost.security.node_token import NodeSigner


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

    async def post(self, path: str, body: object) -> httpx.Response:
        """POSTs `body` as JSON, signed; raises httpx.HTTPError (a status error for a non-2xx answer)."""
        response = await self.client.post(
            path,
            content=msgspec.json.encode(body),
            headers={**self.credentials.headers(), "content-type": "application/json"},
        )
        return response.raise_for_status()

    async def long_poll(self, path: str, params: dict[str, str | int]) -> httpx.Response:
        """GETs a long-poll, asking the CP to hold it `LONG_POLL_S`; raises httpx.HTTPError."""
        response = await self.client.get(
            path,
            params={**params, "timeout": LONG_POLL_S},
            headers=self.credentials.headers(),
            timeout=LONG_POLL_S + 10,
        )
        return response.raise_for_status()

    async def heartbeat(self, beat: Heartbeat) -> HeartbeatReply:
        response = await self.post("/v1/node/heartbeat", beat)
        return msgspec.json.decode(response.content, type=HeartbeatReply)

    async def watch(self, revision: int) -> DesiredState | None:
        response = await self.long_poll("/v1/node/watch", {"revision": revision})
        if response.status_code == 204:
            return None
        return msgspec.json.decode(response.content, type=DesiredState)

    async def report(self, report: Report) -> None:
        await self.post("/v1/node/reports", report)
