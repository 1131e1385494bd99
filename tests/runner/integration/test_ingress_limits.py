"""The ingress's connection bounds and deadlines in a multi-worker runner, whose workers granian's
multi-process server starts (not `serving.serve`): the `runner.*` settings must reach every worker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.procs import REPO, write_project
from tests.rawconn import clients, closed_by_server, hello, read_response, request, still_open
from tests.runner.integration.cluster import Cluster

WORKERS = 2
PER_WORKER = 8

PROJECT = """
project = "limits"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[functions]]
name = "echo"
wasm = "echo.wat"

[[routes]]
path = "/hello"
function = "hello"

[[routes]]
path = "/echo"
function = "echo"

[[deployments]]
function = "hello"

[[deployments]]
function = "echo"
"""


async def test_every_worker_bounds_connections_and_times_out_idle_silent_and_stalled_clients(
    local_cluster: Cluster, tmp_path: Path
) -> None:
    local_cluster.start_cp(["edge"])
    limits = {"header_timeout_s": 1, "body_timeout_s": 1, "max_connections": PER_WORKER}
    edge = local_cluster.start_runner("edge", {}, workers=WORKERS, runner=limits)
    files = {"hello.wat": (REPO / "functions/hello/hello.wat").read_text()}
    files["echo.wat"] = (REPO / "tests/guests/echo.wat").read_text()
    local_cluster.deploy(write_project(tmp_path / "limits", PROJECT, files))
    edge.wait_serving("/hello")
    edge.wait_serving("/echo")
    port = edge.ingress_port

    async with (
        clients(port, 1, b"") as silent,
        clients(port, 1, request("GET", "/hello"), answered=True) as idle,
    ):
        assert await closed_by_server(silent[0][0])
        assert await closed_by_server(idle[0][0])

    async with clients(port, 1, request("POST", "/echo", b"x", length=100)) as ((reader, _),):
        status, headers, body = await read_response(reader)
        assert (status, json.loads(body)["error"], headers["connection"]) == (408, "request_timeout", "close")

    # Every worker full of idle keep-alive clients: a new one gets in only as the timeout frees a slot.
    async with clients(port, WORKERS * PER_WORKER, request("GET", "/hello"), answered=True) as full:
        assert await hello(port) == 200
        assert not still_open(full)
