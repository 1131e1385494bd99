"""`edgehost_app_config`: a plugin changes Litestar's AppConfig of a listener (exception handlers, guards,
Litestar plugins); the core's own routes come through the `core` plugin; and a listener's fast path is
taken only when nothing a plugin added would be skipped, as `edgefn plugins` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, Response, get
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.plugins import InitPluginProtocol
from litestar.testing import TestClient

from edgehost.app import build_app
from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from tests.foundation.test_app import bare_context
from tests.foundation.test_plugins import THIRD_PARTY, example_project, plugin_dir, with_path
from tests.procs import dev_server, run_cli


class Teapot(Exception):
    pass


@get("/teapot")
async def teapot() -> None:
    raise Teapot


def needs_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.headers.get("x-key") != "open":
        raise NotAuthorizedException("no key")


class Stamped(InitPluginProtocol):
    """A Litestar plugin, as a third party would bring one: it adds a response header."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.response_headers = [
            *app_config.response_headers,
            ResponseHeader(name="x-litestar-plugin", value="on"),
        ]
        return app_config


class Configures:
    """One plugin changing the AppConfig of one listener only."""

    def __init__(self, listener: str) -> None:
        self.listener = listener
        self.seen: list[str] = []

    @hookimpl
    def edgehost_route_handlers(self, listener: str, ctx: AppContext) -> list[Any]:
        return [teapot] if listener == self.listener else []

    @hookimpl
    def edgehost_app_config(self, listener: str, ctx: AppContext, config: AppConfig) -> None:
        # The core's implementation ran first: its error rendering is already there.
        self.seen.append(f"{listener}:{Exception in config.exception_handlers}")
        if listener != self.listener:
            return
        config.exception_handlers[Teapot] = lambda request, exc: _teapot_response()
        config.guards.append(needs_key)
        config.plugins.append(Stamped())


def _teapot_response() -> Response[Any]:
    return Response({"error": "teapot"}, status_code=418)


def test_a_plugin_adds_exception_handlers_guards_and_litestar_plugins_to_its_listener() -> None:
    plugin = Configures("metrics")
    with TestClient(build_app("metrics", bare_context(plugin)).litestar) as client:
        refused = client.get("/teapot")
        assert refused.status_code == 401  # the guard, answered in the API's error shape
        assert refused.json()["error"] == "unauthorized"
        answer = client.get("/teapot", headers={"x-key": "open"})
        assert (answer.status_code, answer.json()) == (418, {"error": "teapot"})
        health = client.get("/healthz", headers={"x-key": "open"})  # the guard covers the core's routes
        assert (health.status_code, health.headers["x-litestar-plugin"]) == (200, "on")
    with TestClient(build_app("api", bare_context(plugin)).litestar) as client:
        assert client.get("/healthz").status_code == 200  # another listener: untouched
        assert "x-litestar-plugin" not in client.get("/healthz").headers
    assert plugin.seen == ["metrics:True", "api:True"]


def test_the_core_routes_are_the_core_plugins() -> None:
    with_core = build_app("metrics", bare_context())
    assert [route.path for route in with_core.litestar.routes] == ["/healthz"]
    ctx = bare_context()
    ctx.pm.unregister(name="core")
    assert build_app("metrics", ctx).litestar.routes == []


@pytest.mark.parametrize(
    ("listener", "why"),
    [("ingress", "a plugin adds routes"), ("node", "a plugin adds guards")],  # Configures adds both
)
def test_what_a_plugin_adds_to_a_listener_turns_its_fast_path_off(listener: str, why: str) -> None:
    from edgehost.app import app_config, fast_path

    assert fast_path(listener, Litestar.from_config(app_config(listener, bare_context())))[0] is not None
    configured = Litestar.from_config(app_config(listener, bare_context(Configures(listener))))
    assert fast_path(listener, configured) == (None, why)


GUARD_PLUGIN = """
from litestar.exceptions import NotAuthorizedException

from edgehost.hookspecs import hookimpl


def needs_key(connection, _):
    if connection.headers.get("x-key") != "open":
        raise NotAuthorizedException("no key")


@hookimpl
def edgehost_app_config(listener, ctx, config):
    if listener == "ingress":
        config.guards.append(needs_key)
"""


def test_a_guard_on_the_ingress_guards_a_real_edgefn_dev(tmp_path: Path) -> None:
    """The ingress's fast path would skip the guard: a plugin's guard must see every request."""
    env = with_path(plugin_dir(tmp_path, "ingress_guard", GUARD_PLUGIN), EDGEFN_PLUGINS='["ingress_guard"]')
    with dev_server(example_project(tmp_path), tmp_path / "logs", env=env) as dev:
        assert httpx.get(f"{dev.ingress}/hello", timeout=10).status_code == 401
        opened = httpx.get(f"{dev.ingress}/hello", headers={"x-key": "open"}, timeout=10)
        assert (opened.status_code, opened.text) == (200, "Hello from edgefn!\n")


def fast_paths(stdout: str) -> dict[str, str]:
    """The `fast paths:` block of `edgefn plugins` as {listener: "path (why)"}."""
    block = stdout.split("\nfast paths:\n")[1]
    return dict(line.strip().split(": ", 1) for line in block.splitlines() if line.strip())


def test_edgefn_plugins_names_each_listeners_fast_path(tmp_path: Path) -> None:
    plain = run_cli("plugins")
    assert plain.returncode == 0, plain.stderr
    assert fast_paths(plain.stdout) == {
        "api": "heartbeats (answered before Litestar)",
        "node": "heartbeats (answered before Litestar)",
        "ingress": "ingress (answered before Litestar)",
        "metrics": "off (no fast path for this listener)",
    }
    wrapped = run_cli("plugins", env=with_path(plugin_dir(tmp_path), EDGEFN_PLUGINS='["thirdparty"]'))
    assert wrapped.returncode == 0, wrapped.stderr
    paths = fast_paths(wrapped.stdout)
    assert paths["ingress"] == "off (a plugin adds middleware)"  # THIRD_PARTY signs ingress answers
    assert paths["api"] == "heartbeats (answered before Litestar)"  # its API route costs no fast path
    assert "edgehost_middleware" in THIRD_PARTY
