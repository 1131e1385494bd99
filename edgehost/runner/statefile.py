"""Desired-state files under `runner.state_dir`, written atomically so a reader never sees a torn file.

Two files, two readers: `desired.json` is the CP's whole desired state, kept by the agent so a
runner restarted while the CP is down serves what it had; `serving.json` is what the agent has
fetched, verified, cached and compiled, which the ingress workers load (see docs/runner.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypeVar

import msgspec

from edgehost.files import write_atomic
from edgehost.protocol import DesiredState

log = logging.getLogger("edgefn.runner")

DESIRED_FILE = "desired.json"
SERVING_FILE = "serving.json"
State = TypeVar("State", bound=DesiredState)


class ServingState(DesiredState, kw_only=True):
    """What the agent hands its workers in serving.json: the desired state of what is ready, and
    `unavailable`, function id -> why it could not be brought up on this node, so the workers'
    routes to it answer 503 naming the reason (not 404). Runner-internal: never on the wire."""

    unavailable: dict[str, str] = {}


def save_state(path: Path, desired: DesiredState) -> None:
    """Atomic and durable, so a crash mid-write leaves the previous state, never a torn file."""
    write_atomic(path, msgspec.json.encode(desired))


def load_state(path: Path, kind: type[State] = DesiredState) -> State | None:  # type: ignore[assignment]
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except FileNotFoundError:
        return None
    except msgspec.DecodeError:
        log.warning("ignoring unreadable %s", path)
        return None
