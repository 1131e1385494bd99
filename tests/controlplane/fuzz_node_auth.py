"""schemathesis hooks (SCHEMATHESIS_HOOKS) for fuzzing the node operations: a node token per request.

The control plane refuses a node token it has seen before (replay), so a static `Authorization`
header would pass once. The auth provider gives each case a token signed with the node's key from
the test CA in `EDGEFN_FUZZ_NODE_DIR` (`{dir}/{node}.pem`, `{dir}/{node}.key`); `before_call` signs a
new one whenever a case goes out again with a token already sent. Credentials schemathesis sets on
purpose (none, or an invalid one, to check authentication is enforced) are left alone.
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
_signed: set[str] = set()
_sent: set[str] = set()


def _fresh() -> str:
    value = f"Bearer {_signer.token()}"
    _signed.add(value)
    return value


@schemathesis.auth(refresh_interval=None)
class NodeToken:
    def get(self, case: Any, context: Any) -> str:
        return NODE_ID

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": _fresh()}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    token = (case.headers or {}).get("Authorization")
    if token not in _signed:
        return
    if token in _sent:
        token = _fresh()
        case.headers = {**case.headers, "Authorization": token}
    _sent.add(token)
