"""The ingress's connection bounds and deadlines in a multi-worker runner, whose workers granian's
multi-process server starts (not `serving.serve`): the `runner.*` settings must reach every worker."""

from __future__ import annotations

import ctypes
import json
import os
import socket
from pathlib import Path

import psutil

from tests.procs import REPO, wait_until, write_project
from tests.rawconn import clients, closed_by_server, hello, read_response, request, still_open
from tests.runner.integration.cluster import Cluster

WORKERS = 2
PER_WORKER = 8
SEND_TIMEOUT_S = 2
PIDFD_GETFD = 438  # the syscall number on x86-64 and arm64 (asm-generic) alike

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
    limits = {
        "header_timeout_s": 1,
        "body_timeout_s": 1,
        "max_connections": PER_WORKER,
        "send_timeout_s": SEND_TIMEOUT_S,
    }
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

    # Every worker's listener carries the send timeout (runner.send_timeout_s), which the
    # connections it accepts inherit: each worker sets it on its own listener as its app starts.
    assert edge.proc is not None
    workers = psutil.Process(edge.proc.proc.pid).children(recursive=True)
    timeouts = wait_until(
        lambda: (found := listener_user_timeouts(workers, port)) and len(found) == WORKERS and found,
        what="every worker's listener",
    )
    assert timeouts == [SEND_TIMEOUT_S * 1000] * WORKERS


def listener_user_timeouts(processes: list[psutil.Process], port: int) -> list[int]:
    """TCP_USER_TIMEOUT (ms) of each listening socket on `port` in these processes, read through a
    duplicate of the descriptor (pidfd_getfd, Linux 5.6; Python has no wrapper, hence the syscall)."""
    libc = ctypes.CDLL(None, use_errno=True)
    found = []
    for process in processes:
        pidfd = os.pidfd_open(process.pid)
        try:
            for conn in process.net_connections("tcp"):
                if conn.status != psutil.CONN_LISTEN or conn.laddr.port != port:
                    continue
                fd = libc.syscall(PIDFD_GETFD, pidfd, conn.fd, 0)
                if fd < 0:
                    continue
                with socket.socket(fileno=fd) as sock:
                    found.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
        finally:
            os.close(pidfd)
    return found
