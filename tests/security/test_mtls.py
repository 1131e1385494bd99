"""A real mutual-TLS handshake against granian configured by `server_ssl_args`."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from granian.constants import Interfaces
from granian.server.embed import Server

from edgehost.security.ca import init_ca, issue_node, issue_server
from edgehost.security.tls import client_ssl_context, node_client_context, server_ssl_args
from edgehost.settings import load_settings

Scope = dict[str, Any]


class App:
    """A tiny ASGI app that records the requests that reach it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.paths.append(scope["path"])
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"hello node"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(context: ssl.SSLContext, url: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=context) as client:
        return await client.get(url)


async def _wait_until_serving(context: ssl.SSLContext, url: str) -> httpx.Response:
    """Retry the trusted client until the worker accepts connections (startup is asynchronous)."""
    for _ in range(200):
        try:
            return await _get(context, url)
        except httpx.ConnectError:
            await asyncio.sleep(0.05)
    raise AssertionError("granian did not start serving")


async def test_mutual_tls_accepts_only_node_certificates_from_our_ca(tmp_path: Path) -> None:
    ca, other, lookalike = tmp_path / "ca", tmp_path / "other", tmp_path / "lookalike"
    init_ca(ca)
    issue_server(ca, "127.0.0.1", "localhost")
    node_cert, node_key = issue_node(ca, "node-1")
    init_ca(other, common_name="other CA")
    foreign_cert, foreign_key = issue_node(other, "node-1")
    init_ca(lookalike)  # same name as ours, different key
    lookalike_cert, lookalike_key = issue_node(lookalike, "node-1")

    app = App()
    port = _free_port()
    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        log_enabled=False,
        **server_ssl_args(ca / "ca.pem", ca / "server.pem", ca / "server.key"),
    )
    serving = asyncio.create_task(server.serve())
    url = f"https://127.0.0.1:{port}/ping"
    try:
        trusted = client_ssl_context(ca / "ca.pem", node_cert, node_key)
        response = await _wait_until_serving(trusted, url)
        assert (response.status_code, response.text) == (200, "hello node")
        assert app.paths == ["/ping"]

        refused = [
            (client_ssl_context(ca / "ca.pem", foreign_cert, foreign_key), "UNKNOWN_CA"),
            (client_ssl_context(ca / "ca.pem", lookalike_cert, lookalike_key), "DECRYPT_ERROR"),
            (ssl.create_default_context(cafile=ca / "ca.pem"), "CERTIFICATE_REQUIRED"),
        ]
        for context, alert in refused:
            # With TLS 1.3 the server's refusal arrives as an alert on the client's first read.
            with pytest.raises((httpx.TransportError, ssl.SSLError), match=alert):
                await _get(context, url)
        assert app.paths == ["/ping"]

        # The client side verifies the server too: a client trusting another CA refuses it.
        distrustful = client_ssl_context(other / "ca.pem", foreign_cert, foreign_key)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await _get(distrustful, url)
        assert app.paths == ["/ping"]
    finally:
        server.signal_handler_interrupt()
        await serving


def test_the_runner_clients_use_the_node_certificate_only_for_https_with_tls_set(tmp_path: Path) -> None:
    """`node_client_context`: the one mutual-TLS setup of the runner's CP and artifact clients."""
    init_ca(tmp_path)
    node_cert, node_key = issue_node(tmp_path, "node-1")
    tls = {"ca_file": str(tmp_path / "ca.pem"), "cert_file": str(node_cert), "key_file": str(node_key)}
    settings = load_settings("runner", overrides={"tls": tls})
    context = node_client_context(settings, "https://cp.example:8443")
    assert context is not None
    assert [dict(c["subject"][0])["commonName"] for c in context.get_ca_certs()] == ["edgefn CA"]
    assert node_client_context(settings, "http://127.0.0.1:8787") is None
    assert node_client_context(load_settings("runner"), "https://cp.example:8443") is None
