"""A bug in the runner is `host_error`, never blamed on the guest's module (`instantiate_failed`) or code
(`trap`): a pool that raises something other than `InvokeError` stands in for any host bug here."""

from __future__ import annotations

import json

import pytest

from edgehost.protocol import RouteSpec
from edgehost.runner.ingress import Ingress
from edgehost.runner.snapshot import LiveFunction, Snapshot
from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse
from tests.runner.test_ingress_bytes import DEPLOYMENT, call


class Buggy:
    spec = FunctionSpec(function_id="t.f", version=1, memory_pages=16, max_execution_ms=50)

    def invoke(self, request: GuestRequest | bytes, *, request_id: str) -> GuestResponse:
        raise RuntimeError("a host bug")


async def test_a_host_bug_answers_500_host_error(ingress: Ingress, caplog: pytest.LogCaptureFixture) -> None:
    routes = ingress.hook.edgehost_route_table(
        routes=[RouteSpec(host="*", path="/*", function_id="t.f", project="t")], claims=()
    )
    ingress.node.snapshot = Snapshot(routes=routes, functions={"t.f": LiveFunction(DEPLOYMENT, Buggy())})
    sent = await call(ingress, b"/x")
    assert sent[0]["status"] == 500
    body = json.loads(sent[1]["body"])
    assert body["error"] == "host_error"
    assert body["detail"] == "the runner could not run the function: a host bug"
    assert "a host bug" in caplog.text  # logged with its traceback for the operator
