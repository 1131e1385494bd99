"""The node listener: heartbeats, the watch long-poll and deployment reports.

Granian checks the client certificate on this listener; each request also carries a
token signed with the node's key (certificate in `x5c`), which the auth plugin verifies.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery, JSONBody

from edgehost.context import AppContext
from edgehost.controlplane.api import bearer_token, refusal
from edgehost.controlplane.nodes import Nodes
from edgehost.controlplane.openapi import refusals
from edgehost.controlplane.schemas import MAX_WAIT_S, WaitSeconds
from edgehost.controlplane.tail import tail_projects, tail_records
from edgehost.errors import ApiError
from edgehost.protocol import LONG_POLL_S, DesiredState, Heartbeat, HeartbeatReply, Report


async def provide_node_id(request: Request[Any, Any, Any], state: State) -> str:
    return authenticate_node(state.ctx, request.headers.get("authorization", ""))


def authenticate_node(ctx: AppContext, authorization: str) -> str:
    """The node an `Authorization` header value proves, or the ApiError (401/403) refusing it."""
    try:
        node_id = ctx.hook.edgehost_authenticate_node(token=bearer_token(authorization, "node"), ctx=ctx)
    except ApiError:
        raise
    except Exception as exc:
        raise refusal(exc) from None
    if not node_id:
        raise ApiError(401, "unauthorized", "no authentication plugin accepted the node credential")
    return str(node_id)


# Most heartbeats never reach this handler: `heartbeat_front` answers them in front of Litestar with
# `authenticate_node` and `answer_heartbeat` too. It keeps the route's OpenAPI entry and the rest.
@post(
    "/heartbeat",
    status_code=200,
    summary="Report a node's state and get what it should run",
    responses=refusals(422),
)
async def heartbeat(data: JSONBody[Heartbeat], node_id: NamedDependency[str], state: State) -> HeartbeatReply:
    return await answer_heartbeat(state.nodes, node_id, data)


async def answer_heartbeat(nodes: Nodes, node_id: str, beat: Heartbeat) -> HeartbeatReply:
    """A node may only speak for itself (403); then `Nodes.heartbeat`."""
    if beat.node_id != node_id:
        raise ApiError(
            403, "forbidden", f"credential is for node {node_id!r}, heartbeat names {beat.node_id!r}"
        )
    return await nodes.heartbeat(node_id, beat)


@get(
    "/watch",
    summary="Wait until the desired state moves past a revision",
    responses={
        200: ResponseSpec(DesiredState, description="The node's desired state, newer than `revision`"),
        204: ResponseSpec(None, description="The wait timed out; nothing changed"),
    },
)
async def watch(
    node_id: NamedDependency[str],
    state: State,
    revision: FromQuery[int] = 0,
    timeout: WaitSeconds = LONG_POLL_S,
) -> Response[Any]:
    """Answers as soon as the desired state moves past `revision`; 204 when the wait times out."""
    current = await state.notifier.revision()
    if current <= revision:
        current = await state.notifier.wait_beyond(revision, min(max(timeout, 0.0), MAX_WAIT_S))
    if current <= revision:
        return Response(None, status_code=204)
    desired: DesiredState = await state.nodes.desired(node_id)
    return Response(desired, status_code=200)


@post("/reports", status_code=202, summary="Report how one deployment went on a node")
async def report(data: JSONBody[Report], node_id: NamedDependency[str], state: State) -> dict[str, Any]:
    if data.node_id != node_id:
        raise ApiError(403, "forbidden", f"credential is for node {node_id!r}, report names {data.node_id!r}")
    await state.nodes.report(node_id, data)
    return {"accepted": True}


def node_router() -> Router:
    return Router(
        path="/v1/node",
        route_handlers=[heartbeat, watch, report, tail_projects, tail_records],
        dependencies={"node_id": Provide(provide_node_id)},
        tags=["nodes"],
        security=[{"node": []}],
    )
