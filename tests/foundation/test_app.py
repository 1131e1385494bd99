"""App assembly: one function builds each listener's Litestar app from the core routes and hook results."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pluggy
import pytest
from litestar import Litestar, Request, get
from litestar.config.app import AppConfig
from litestar.di import NamedDependency, Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from edgehost import core_plugin, hookspecs
from edgehost.app import LISTENERS, build_app
from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.runner.ingress import Ingress
from edgehost.settings import load_settings
from tests.procs import control_plane_process
from tests.services import free_port


@get("/contributed")
async def contributed(greeting: NamedDependency[str], request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"greeting": greeting, "lifespan": request.app.state.get("lifespan")}


def stamp(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-stamped", scope["path"].encode())]
            await send(message)

        await app(scope, receive, send_stamped)

    return middleware


class Contributor:
    """One plugin object implementing each assembly hook, for one listener only."""

    def __init__(self, listener: str) -> None:
        self.listener = listener
        self.lifespans: list[str] = []

    @hookimpl
    def edgehost_route_handlers(self, listener: str, ctx: AppContext) -> list[Any]:
        return [contributed] if listener == self.listener else []

    @hookimpl
    def edgehost_middleware(self, listener: str, ctx: AppContext) -> list[Any]:
        return [DefineMiddleware(stamp)] if listener == self.listener else []

    @hookimpl
    def edgehost_dependencies(self, listener: str, ctx: AppContext) -> dict[str, Any]:
        if listener != self.listener:
            return {}

        async def greeting() -> str:
            return f"hello from {ctx.mode}"

        return {"greeting": Provide(greeting)}

    @hookimpl
    def edgehost_lifespan(self, listener: str, ctx: AppContext) -> list[Any]:
        if listener != self.listener:
            return []

        @contextlib.asynccontextmanager
        async def running(app: Litestar) -> AsyncIterator[None]:
            self.lifespans.append("entered")
            app.state["lifespan"] = "running"
            yield
            self.lifespans.append("exited")

        return [running]


def bare_context(*plugins: Any) -> AppContext:
    """The core plugin (every listener's own routes and error shape) and `plugins`, no built-in."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(core_plugin, name="core")
    for plugin in plugins:
        pm.register(plugin)
    return AppContext(settings=load_settings("dev"), pm=pm, mode="dev")


def test_each_hook_contributes_to_the_app_of_its_listener() -> None:
    plugin = Contributor("metrics")
    ctx = bare_context(plugin)
    with TestClient(build_app("metrics", ctx).litestar) as client:
        assert plugin.lifespans == ["entered"]
        response = client.get("/contributed")
        assert response.status_code == 200
        assert response.json() == {"greeting": "hello from dev", "lifespan": "running"}
        assert response.headers["x-stamped"] == "/contributed"
        health = client.get("/healthz")
        assert health.json() == {"status": "ok", "mode": "dev"}
        assert health.headers["x-stamped"] == "/healthz"  # middleware wraps the whole listener's app
    assert plugin.lifespans == ["entered", "exited"]


def test_services_started_after_assembly_reach_the_app_state() -> None:
    """`edgefn serve` may build the apps before the CP's services exist; requests must still see them."""
    ctx = bare_context()
    app = build_app("metrics", ctx)
    ctx.services.add(registry=(registry := object()))
    with TestClient(app.litestar):
        assert app.state.registry is registry
        assert app.state.ctx is ctx


def test_contributions_stay_on_their_listener() -> None:
    plugin = Contributor("api")
    ctx = bare_context(plugin)
    with TestClient(build_app("metrics", ctx).litestar) as client:
        assert client.get("/contributed").status_code == 404
        assert "x-stamped" not in client.get("/healthz").headers
    assert plugin.lifespans == []


def test_the_api_listener_serves_health_and_an_openapi_document_of_the_v1_routes() -> None:
    ctx = bare_context(Contributor("api"))
    with TestClient(build_app("api", ctx).litestar) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        document = client.get("/schema/openapi.json").json()
    assert document["info"]["title"] == "edgefn control plane"
    paths = set(document["paths"])
    assert "/v1/projects" in paths
    assert "/v1/projects/{project}/functions" in paths
    assert "/v1/projects/{project}/deployments" in paths
    assert "/v1/status" in paths
    assert "/contributed" in paths  # a plugin's API routes are documented like the core's


def test_an_unknown_listener_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown listener 'edge'"):
        build_app("edge", bare_context())
    assert LISTENERS == ("api", "node", "ingress", "metrics")


class OldStyle:
    """A plugin written when the listener was called `role` (deprecated, still passed)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def edgehost_route_handlers(self, role: str, ctx: AppContext) -> list[Any]:
        self.seen.append(("route_handlers", role))
        return [contributed] if role == "metrics" else []

    @hookimpl
    def edgehost_middleware(self, role: str, ctx: AppContext) -> list[Any]:
        self.seen.append(("middleware", role))
        return []

    @hookimpl
    def edgehost_dependencies(self, role: str, ctx: AppContext) -> dict[str, Any]:
        self.seen.append(("dependencies", role))

        async def greeting() -> str:
            return f"hello from the {role} listener"

        return {"greeting": Provide(greeting)}

    @hookimpl
    def edgehost_lifespan(self, role: str, ctx: AppContext) -> list[Any]:
        self.seen.append(("lifespan", role))
        return []

    @hookimpl
    def edgehost_app_config(self, role: str, ctx: AppContext, config: AppConfig) -> None:
        self.seen.append(("app_config", role))


def test_a_plugin_naming_the_listener_role_still_works() -> None:
    plugin = OldStyle()
    with TestClient(build_app("metrics", bare_context(plugin)).litestar) as client:
        assert client.get("/contributed").json()["greeting"] == "hello from the metrics listener"
    assert sorted(plugin.seen) == [
        ("app_config", "metrics"),
        ("dependencies", "metrics"),
        ("lifespan", "metrics"),
        ("middleware", "metrics"),
        ("route_handlers", "metrics"),
    ]


@get("/fails")
async def fails() -> None:
    raise RuntimeError("secret internals")


class Failing:
    @hookimpl
    def edgehost_route_handlers(self, listener: str, ctx: AppContext) -> list[Any]:
        return [fails]


@pytest.mark.parametrize("listener", ["api", "metrics"])
def test_an_unexpected_error_is_a_logged_500_in_the_error_shape(
    listener: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(build_app(listener, bare_context(Failing())).litestar) as client:
        response = client.get("/fails")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "detail": "the server hit an unexpected error; it has been logged",
    }
    assert "unhandled error on GET /fails" in caplog.text and "secret internals" in caplog.text


def test_a_real_control_plane_serves_health_and_openapi(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "cp.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[api]\nport = {port}\n')
    cp = control_plane_process(config, tmp_path)
    try:
        cp.wait_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok", "mode": "control-plane"}
        document = httpx.get(f"{base}/schema/openapi.json", timeout=10).json()
        assert any(path.startswith("/v1/") for path in document["paths"])
        unauthorized = httpx.get(f"{base}/v1/projects", timeout=10)
        assert unauthorized.status_code == 401
        assert set(unauthorized.json()) >= {"error", "detail"}
        assert (tmp_path / "state" / "edgefn.db").is_file()  # the SQLite default under state_dir
    finally:
        # Not asserted: the exit status. Embedded granian sometimes aborts (SIGABRT, "panic in a
        # function that cannot unwind") while the process exits after SIGTERM, under load about 1
        # stop in 10; upstream granian issue #693. Reported to the owner of edgehost/serving.py.
        cp.stop()
    assert "Traceback" not in cp.stderr


class LifespanOnly(Contributor):
    """A plugin that runs a task beside the ingress but does not wrap its traffic."""

    @hookimpl
    def edgehost_route_handlers(self, role: str, ctx: AppContext) -> list[Any]:
        return []

    @hookimpl
    def edgehost_middleware(self, role: str, ctx: AppContext) -> list[Any]:
        return []


async def drive_lifespan(app: Any) -> list[str]:
    """Startup then shutdown, as granian sends them; returns what the app answered."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    answered: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        answered.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return answered


@pytest.mark.parametrize("plugin_cls", [LifespanOnly, Contributor])
async def test_the_ingress_is_served_bare_unless_a_plugin_wraps_it(plugin_cls: type[Contributor]) -> None:
    seen: list[bytes] = []

    class FakeIngress(Ingress):
        def __init__(self) -> None:
            pass

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["raw_path"])  # what the ingress routes on (a mount rewrites `path`)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"guest"})

    plugin = plugin_cls("ingress")
    ctx = bare_context(plugin)
    ctx.services.add(ingress=FakeIngress())
    app = build_app("ingress", ctx)
    wraps = plugin_cls is Contributor
    assert app.fast_path is None if wraps else app.fast_path is not None and app.fast_path.name == "ingress"
    assert await drive_lifespan(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert plugin.lifespans == ["entered", "exited"]  # plugins' tasks run either way
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge") as client:
        answer = await client.get("/any/user/path")
    assert (answer.status_code, answer.text, seen) == (200, "guest", [b"/any/user/path"])
    assert ("x-stamped" in answer.headers) is wraps  # a plugin's middleware wraps user traffic
