"""`/v1/nodes`: the online-node feed for operators, the target lists made from it, and drains.

Every route needs the operator role (`edgehost_authorize_operator`; built in: `auth.operators`).
Answers are never cached (`Cache-Control: no-store`): a load balancer polling the feed must see a
node leave as soon as the control plane knows it is gone.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import MediaType, Request, Router, get, post
from litestar.datastructures import CacheControlHeader, State
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter, QueryParameter

from edgehost.controlplane import node_feed
from edgehost.controlplane.api import provide_caller
from edgehost.controlplane.node_feed import NodeInfo, NodeList, TargetGroup
from edgehost.controlplane.openapi import refusals
from edgehost.errors import ApiError
from edgehost.selectors import Selector, SelectorError, compile_selector

log = logging.getLogger("edgefn.cp.nodes")

SelectorParam = Annotated[
    str | None,
    QueryParameter(
        max_length=4096,
        description="CEL over node labels, as in `[[deployments]]`, e.g. `region == 'tokyo'`",
    ),
]
StateParam = Annotated[
    node_feed.State | None,
    QueryParameter(
        name="state",  # `state` is Litestar's own keyword argument
        description="online (in the feed), draining (alive, left out by an operator) or offline",
    ),
]
NodeId = Annotated[str, PathParameter(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]


async def provide_operator(request: Request[Any, Any, Any], state: State) -> str:
    """The authenticated developer, if the operator role is theirs; else 403."""
    subject = await provide_caller(request, state)
    ctx = state.ctx
    if not ctx.hook.edgehost_authorize_operator(subject=subject, ctx=ctx):
        raise ApiError(403, "forbidden", f"{subject!r} is not an operator (see auth.operators)")
    return subject


def _selector(expr: str | None) -> Selector | None:
    """The compiled selector (the deployments' CEL evaluation); 422 `bad_selector` like a deploy's."""
    if expr is None:
        return None
    try:
        return compile_selector(expr)
    except SelectorError as exc:
        raise ApiError(422, "bad_selector", str(exc)) from None


@get(
    "/",
    summary="List the nodes, their state and what each serves",
    responses=refusals(422),
)
async def list_nodes(
    operator: NamedDependency[str], node_state: StateParam = None, selector: SelectorParam = None
) -> NodeList:
    """Every node (or those in `state`, whose labels match `selector`), with what each serves."""
    return NodeList(await node_feed.list_nodes(node_state, _selector(selector)))


@get(
    "/targets",
    media_type=MediaType.TEXT,
    summary="The online nodes' ingress addresses, one host:port a line",
    responses=refusals(422),
)
async def node_targets(operator: NamedDependency[str], selector: SelectorParam = None) -> str:
    """The ingress `host:port` of each online, non-draining node, one a line, for file-based
    discovery (HAProxy, nginx, Envoy). Empty when no node is online."""
    nodes = await node_feed.list_nodes("online", _selector(selector), deployments=False)
    return node_feed.target_lines(nodes)


@get(
    "/prometheus-sd",
    summary="Prometheus http_sd_config targets: the running nodes' metrics listeners",
    responses=refusals(422),
)
async def prometheus_sd(operator: NamedDependency[str], selector: SelectorParam = None) -> list[TargetGroup]:
    """Prometheus `http_sd_config` JSON: the metrics listener of every running node (online or
    draining: a draining runner still serves, so it is still watched)."""
    nodes = [
        n
        for n in await node_feed.list_nodes(None, _selector(selector), deployments=False)
        if n.state != "offline"
    ]
    return node_feed.prometheus_groups(nodes)


async def _drain(node_id: str, draining: bool, operator: str) -> NodeInfo:
    node = await node_feed.set_draining(node_id, draining)
    if node is None:
        raise ApiError(404, "not_found", f"no node {node_id!r} has checked in")
    log.info("node %s %s by %s", node_id, "drained" if draining else "undrained", operator)
    return node


@post(
    "/{node_id:str}/drain",
    status_code=200,
    summary="Leave a node out of the feed while it keeps serving",
    responses=refusals(404),
)
async def drain(node_id: NodeId, operator: NamedDependency[str]) -> NodeInfo:
    """Leaves the node out of the feed and target lists; it keeps serving and receiving deployments
    until stopped. Kept across restarts until undrained. Idempotent."""
    return await _drain(node_id, True, operator)


@post(
    "/{node_id:str}/undrain",
    status_code=200,
    summary="Put a drained node back in the feed",
    responses=refusals(404),
)
async def undrain(node_id: NodeId, operator: NamedDependency[str]) -> NodeInfo:
    """Puts a drained node back in the feed (once it is online). Idempotent."""
    return await _drain(node_id, False, operator)


def nodes_router() -> Router:
    return Router(
        path="/v1/nodes",
        route_handlers=[list_nodes, node_targets, prometheus_sd, drain, undrain],
        dependencies={"operator": Provide(provide_operator)},
        cache_control=CacheControlHeader(no_store=True),
        tags=["operator"],
        security=[{"developer": []}],
    )
