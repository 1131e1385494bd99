"""What the ingress reads per request: one immutable `Snapshot` of the route table, the live
function versions and the blocked tenants, which the reconciler (node.py) builds off to the side
and swaps in with one assignment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edgehost.contracts import InstancePool, RouteLookup
from edgehost.limits import limits_of
from edgehost.protocol import FunctionDeployment, Rollout
from edgehost.rollouts import Split
from edgehost.runner.response_fields import RelayedFields
from edgehost.runtime import FunctionSpec

Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LiveFunction:
    deployment: FunctionDeployment
    pool: InstancePool
    # What the ingress builds once per deployment, not per request: its answers' relayed fields.
    relayed: RelayedFields = field(default_factory=RelayedFields, compare=False)


class NoRoutes:
    """The table of a node that serves nothing yet."""

    def lookup(self, host: str, method: str, path: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    routes: RouteLookup = field(default_factory=NoRoutes)
    functions: dict[str, LiveFunction] = field(default_factory=dict)
    blocked: frozenset[str] = frozenset()
    revision: int = 0
    # function id -> why it cannot run here: its routes stay, so the ingress answers 503 naming it
    # and the reason instead of a 404 that hides the failure.
    unavailable: dict[str, str] = field(default_factory=dict)
    # function id -> its versions by share, for a function in a rollout; empty in the common case,
    # so the ingress pays one truth test per request for rollouts it does not have.
    splits: dict[str, Split[LiveFunction]] = field(default_factory=dict)

    def unavailable_detail(self, function_id: str) -> str:
        """The 503 `function_unavailable` detail for a routed function with no live pool."""
        reason = self.unavailable.get(function_id, "it is not running on this node")
        return f"function {function_id} cannot run on this node: {reason}"

    def serving(self) -> list[LiveFunction]:
        """Every function version this snapshot serves, by function id and version: with a rollout,
        more than one per function."""
        versions = {(lf.deployment.function_id, lf.deployment.version): lf for lf in self.functions.values()}
        for split in self.splits.values():
            versions.update(((lf.deployment.function_id, lf.deployment.version), lf) for lf in split.choices)
        return [versions[key] for key in sorted(versions)]


def spec_of(d: FunctionDeployment) -> FunctionSpec:
    """The runtime's view of `d`: its secret values join its environment (WASI environ)."""
    limits = limits_of(d)
    if d.secret_values:
        limits["env"] = {**d.env, **d.secret_values}
    return FunctionSpec(d.function_id, d.version, d.entrypoint, project=d.project, **limits)


def splits_of(rollouts: Iterable[Rollout], live: dict[Key, LiveFunction]) -> dict[str, Split[LiveFunction]]:
    """Each rollout over the versions live here (all of them once each is fetched and warmed)."""
    splits = {}
    for rollout in rollouts:
        fid = rollout.function_id
        present = [(live[(fid, v)], share) for v, share in rollout.shares if (fid, v) in live]
        if present:
            splits[fid] = Split.of(present)
    return splits
