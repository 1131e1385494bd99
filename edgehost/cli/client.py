"""Which control plane a CLI command talks to, and with which token (the client is `edgehost.client`)."""

from __future__ import annotations

import os
from pathlib import Path

from edgehost.cli.dev_state import find_state_dir, read_state
from edgehost.cli.errors import USAGE, CliError

DEFAULT_API = "http://127.0.0.1:8787"


def resolve_target(api: str | None, token: str | None, start: Path = Path(".")) -> tuple[str, str]:
    """The control plane to talk to and the token to show it: `(api_url, token)`.

    Each comes from, first to last: the flag, its environment variable (`EDGEFN_API` arrives as
    the flag through click; `EDGEFN_TOKEN`), then the state folder of the `edgefn dev` serving the
    project around `start` (its `api` and `token` files), then, for the address only,
    `DEFAULT_API`. Raises `CliError` (exit 2) when no token is found anywhere.
    """
    token = token or os.environ.get("EDGEFN_TOKEN", "")
    state_dir = None if api and token else find_state_dir(start)
    if state_dir is not None:
        api = api or read_state(state_dir, "api")
        token = token or read_state(state_dir, "token") or ""
    if not token:
        raise CliError(
            "no token: pass --token, set EDGEFN_TOKEN, or run inside the folder of a project whose "
            "`edgefn dev` ran (it writes .edgefn/token)",
            USAGE,
        )
    return (api or DEFAULT_API), token.strip()
