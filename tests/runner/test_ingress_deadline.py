"""A guest that runs on guest threads gets its time limit from the ingress's hand-off: the wait for a
free thread spends it (with 40 runaways on 2 cores that wait reached half a second)."""

from __future__ import annotations

from time import monotonic

import msgspec

from edgehost.protocol import RouteSpec
from edgehost.runner.ingress import Ingress
from edgehost.runner.snapshot import LiveFunction, Snapshot
from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse
from edgehost.runtime.placement import INLINE_MAX_MS
from tests.runner.test_ingress_bytes import DEPLOYMENT, call

LIMIT_MS = INLINE_MAX_MS * 10  # long enough to run on guest threads


class Deadlines:
    spec = FunctionSpec(function_id="t.f", version=1, memory_pages=16, max_execution_ms=LIMIT_MS)

    def __init__(self) -> None:
        self.deadlines: list[float | None] = []

    def invoke(
        self, request: GuestRequest | bytes, *, request_id: str, deadline: float | None = None
    ) -> GuestResponse:
        self.deadlines.append(deadline)
        return GuestResponse(200, [], b"ok", [], 0.0)


async def test_a_threaded_guests_limit_starts_when_the_ingress_hands_it_over(ingress: Ingress) -> None:
    pool = Deadlines()
    routes = ingress.hook.edgehost_route_table(
        routes=[RouteSpec(host="*", path="/", function_id="t.f", project="t")], claims=()
    )
    deployment = msgspec.structs.replace(DEPLOYMENT, max_execution_ms=LIMIT_MS)
    ingress.node.snapshot = Snapshot(routes=routes, functions={"t.f": LiveFunction(deployment, pool)})
    before = monotonic()
    assert (await call(ingress, b"/"))[0]["status"] == 200
    after = monotonic()
    (deadline,) = pool.deadlines
    assert deadline is not None
    assert before + LIMIT_MS / 1000 <= deadline <= after + LIMIT_MS / 1000
