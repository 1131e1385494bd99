"""Desired-state files under `runner.state_dir`, written atomically so a reader never sees a torn file.

Two files, two readers: `desired.json` is the CP's whole desired state, kept by the agent so a
runner restarted while the CP is down serves what it had; `serving.json` is what the agent has
fetched, verified, cached and compiled, which the ingress workers load (see docs/runner.md).

Secret values never reach the disk in clear (docs/secrets.md): both files hold them sealed with the
node key, `node-secrets.key` beside them (created 0600 when first needed, read by the agent and
the workers alike), the function id and secret name as associated data.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import TypeVar

import msgspec

from edgehost.files import write_atomic
from edgehost.protocol import DesiredState, FunctionDeployment
from edgehost.secrets_crypto import Sealer, SealError, SecretKeyError, load_or_create_key

log = logging.getLogger("edgefn.runner")

DESIRED_FILE = "desired.json"
SERVING_FILE = "serving.json"
NODE_KEY_FILE = "node-secrets.key"
State = TypeVar("State", bound=DesiredState)


class ServingState(DesiredState, kw_only=True):
    """What the agent hands its workers in serving.json: the desired state of what is ready, and
    `unavailable`, function id -> why it could not be brought up on this node, so the workers'
    routes to it answer 503 naming the reason (not 404). Runner-internal: never on the wire."""

    unavailable: dict[str, str] = {}


def save_state(path: Path, desired: DesiredState) -> None:
    """Atomic and durable, so a crash mid-write leaves the previous state, never a torn file."""
    write_atomic(path, msgspec.json.encode(_sealed(path, desired, seal=True)))


def load_state(path: Path, kind: type[State] = DesiredState) -> State | None:  # type: ignore[assignment]
    try:
        return _sealed(path, msgspec.json.decode(path.read_bytes(), type=kind), seal=False)
    except FileNotFoundError:
        return None
    except msgspec.DecodeError:
        log.warning("ignoring unreadable %s", path)
        return None
    except (SealError, SecretKeyError) as exc:  # another node's file, or its key lost: never half a state
        log.warning(
            "ignoring %s: its secrets do not open with %s (%s)", path, path.parent / NODE_KEY_FILE, exc
        )
        return None


@cache
def _sealer(key_file: Path) -> Sealer:
    return Sealer(load_or_create_key(key_file))


def _sealed(path: Path, desired: State, *, seal: bool) -> State:
    """`desired` with every function's secret values sealed (`seal`) or opened; unchanged without any."""
    if not any(f.secret_values for f in desired.functions):
        return desired
    sealer = _sealer(path.parent / NODE_KEY_FILE)

    def convert(f: FunctionDeployment) -> FunctionDeployment:
        if not f.secret_values:
            return f
        change = sealer.seal if seal else sealer.open
        values = {name: change(value, f"{f.function_id}/{name}") for name, value in f.secret_values.items()}
        return msgspec.structs.replace(f, secret_values=values)

    return msgspec.structs.replace(desired, functions=tuple(convert(f) for f in desired.functions))
