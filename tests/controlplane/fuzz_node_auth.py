"""schemathesis hooks (SCHEMATHESIS_HOOKS) for fuzzing the node operations: a node token per test case.

The control plane refuses a node token it has seen before (replay), so a static `Authorization`
header would pass once. This auth provider, never cached, signs a new token for every case with the
node's key from the test CA in `EDGEFN_FUZZ_NODE_DIR` (`{dir}/{node}.pem`, `{dir}/{node}.key`).
Credentials schemathesis sets on purpose (none, or an invalid one, to check that authentication is
enforced) are its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis

from edgehost.security.node_token import NodeSigner

NODE_ID = os.environ.get("EDGEFN_FUZZ_NODE_ID", "dev")
_dir = Path(os.environ["EDGEFN_FUZZ_NODE_DIR"])
_signer = NodeSigner(
    node_id=NODE_ID,
    cert_pem=(_dir / f"{NODE_ID}.pem").read_bytes(),
    key_pem=(_dir / f"{NODE_ID}.key").read_bytes(),
)


@schemathesis.auth(refresh_interval=None)
class NodeToken:
    def get(self, case: Any, context: Any) -> str:
        return _signer.token()

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
