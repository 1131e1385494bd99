"""Messages between control plane and runners; the only module both sides share.

The CP sends the node's whole desired state (level-triggered, so a lost message is healed
by the next one) and, for the requirement's instruction view, the deploy/undeploy steps
that take the node from what it reported to what it should run.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from edgehost.limits import FunctionLimits

# What a node reports must fit the CP's tables (edgefn_node, edgefn_node_deployment); the bounds are
# checked when the CP decodes a message and published in its OpenAPI document.
FunctionId = Annotated[str, msgspec.Meta(max_length=128)]
DeploymentState = Annotated[str, msgspec.Meta(max_length=16)]
VersionNumber = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Bytes = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
UnixSeconds = Annotated[float, msgspec.Meta(ge=0, le=253_402_300_799)]  # datetime ends in the year 9999
# An advertised http(s) URL, or "" from a runner that predates them; the CP checks the rest (a host
# and port it can list as a target) and answers 422 for what this pattern cannot say.
AdvertisedUrl = Annotated[str, msgspec.Meta(pattern=r"^(https?://[^\s/?#]+([/?#]\S*)?)?$", max_length=2048)]
# How long a long-poll (`GET /v1/node/watch`, `GET /v1/node/tail`) waits for a change, in seconds:
# what a runner asks for and the CP's default. Under the idle timeouts of common proxies (30 s+).
LONG_POLL_S = 25.0


class Message(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base of the wire messages: keyword construction, defaults left off the wire.

    Plain data that never refers back to itself, so the cycle collector need not track it: a CP
    decodes and encodes thousands a second, and each tracked one brings the next collection nearer.
    """


class FunctionDeployment(FunctionLimits, kw_only=True, frozen=True, omit_defaults=True):
    """Everything a runner needs to fetch, verify and run one function version (a `Message`, but
    frozen like the limits it carries)."""

    function_id: str
    project: str
    name: str
    version: int
    artifact_url: str
    sha256: str
    entrypoint: str = "handle"


class RouteSpec(Message):
    host: str
    path: str
    function_id: str
    project: str
    methods: tuple[str, ...] = ()
    priority: int = 0


class HostClaim(Message):
    """An explicit route host (`name` or `*.domain`) and the project whose routes use it."""

    host: str
    project: str


class Rollout(Message):
    """A function served as several versions at once: `shares` are (version, percent) pairs summing
    to 100, each version also in `DesiredState.functions` (edgehost/rollouts.py)."""

    function_id: str
    shares: tuple[tuple[int, int], ...]


class DesiredState(Message):
    """`routes` are those of the functions deployed here; `host_claims` name every project's explicit
    hosts, deployed here or not, so a runner never lets another project answer for them. A function
    in `rollouts` has one entry in `functions` per version it serves."""

    revision: int = 0
    functions: tuple[FunctionDeployment, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    host_claims: tuple[HostClaim, ...] = ()
    blocked_tenants: tuple[str, ...] = ()
    remove_artifacts: bool = False
    rollouts: tuple[Rollout, ...] = ()


class CachedFunction(Message):
    function_id: FunctionId
    version: VersionNumber
    state: DeploymentState  # "cached", "fetching", "error"
    error: str = ""


class Heartbeat(Message):
    node_id: str
    status: str = "ready"
    cpu_percent: float = 0.0
    mem_bytes: Bytes = 0
    labels: dict[str, str] = {}
    functions: tuple[CachedFunction, ...] = ()
    revision: int = 0
    cpu_usage: dict[str, float] = {}  # tenant -> guest CPU seconds since the previous heartbeat
    # Where the node's ingress and metrics listener are reached (`runner.public_url`, `runner.metrics_url`),
    # for the CP's node feed; runners that predate them send neither.
    public_url: AdvertisedUrl = ""
    metrics_url: AdvertisedUrl = ""


class Instruction(Message):
    action: str  # "deploy" | "undeploy"
    function_id: str
    version: int
    artifact_url: str = ""
    sha256: str = ""
    memory_pages: int = 0
    max_execution_ms: int = 0


class HeartbeatReply(Message):
    desired: DesiredState
    instructions: tuple[Instruction, ...] = ()
    heartbeat_interval_s: float = 30.0


class Report(Message):
    """A runner's account of one deployment: `cached`, or an error with what went wrong."""

    node_id: str
    function_id: FunctionId
    version: VersionNumber
    state: DeploymentState
    error: str = ""
    timestamp: UnixSeconds = 0.0
    expected_sha256: str = ""
    actual_sha256: str = ""


def instructions_for(desired: DesiredState, reported: tuple[CachedFunction, ...]) -> tuple[Instruction, ...]:
    """Deploy what the node should run and lacks; undeploy what it runs and should not."""
    have = {(f.function_id, f.version) for f in reported if f.state == "cached"}
    want = {(f.function_id, f.version): f for f in desired.functions}
    steps = [
        Instruction(
            action="deploy",
            function_id=f.function_id,
            version=f.version,
            artifact_url=f.artifact_url,
            sha256=f.sha256,
            memory_pages=f.memory_pages,
            max_execution_ms=f.max_execution_ms,
        )
        for key, f in sorted(want.items())
        if key not in have
    ]
    steps += [
        Instruction(action="undeploy", function_id=fid, version=ver)
        for fid, ver in sorted(have - want.keys())
    ]
    return tuple(steps)
