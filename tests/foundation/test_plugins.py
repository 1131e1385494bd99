"""The plugin host: a third-party plugin changes a real `edgefn dev`, built-ins can be disabled, and
`edgefn plugins` lists what is loaded, whether it came from the `plugins` setting or an entry point."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pluggy
import pytest

from edgehost import hookspecs
from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.plugin_manager import (
    BUILTIN_CAPABILITIES,
    BUILTINS,
    PluginError,
    describe,
    make_plugin_manager,
    missing_capabilities,
    per_request_calls,
)
from edgehost.settings import load_settings
from tests.procs import REPO, dev_server, run_cli

# A plugin as a third party would write it: it only imports the public hook markers and Litestar.
THIRD_PARTY = '''
"""A throwaway third-party plugin."""
from litestar import get

from edgehost.hookspecs import hookimpl


@get("/thirdparty/hello")
async def hello() -> dict[str, str]:
    return {"plugin": "thirdparty"}


@hookimpl
def edgehost_route_handlers(role, ctx):
    return [hello] if role == "api" else []


def signed(app):
    """Raw ASGI middleware, as a third party would add request signing at the ingress."""
    async def middleware(scope, receive, send):
        async def send_signed(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-thirdparty-mw", b"signed")]
            await send(message)
        await app(scope, receive, send_signed)
    return middleware


@hookimpl
def edgehost_middleware(role, ctx):
    return [signed] if role == "ingress" else []


@hookimpl
def edgehost_invocation_finished(invocation):
    invocation.response_headers.append(("x-thirdparty", f"{invocation.function_id} {invocation.status}"))
'''


def plugin_dir(tmp_path: Path, name: str = "thirdparty", source: str = THIRD_PARTY) -> Path:
    directory = tmp_path / "site"
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return directory


def with_path(directory: Path, **env: str) -> dict[str, str]:
    paths = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), **env}


def example_project(tmp_path: Path) -> Path:
    project = tmp_path / "demo"
    shutil.copytree(REPO / "functions" / "hello", project / "functions" / "hello")
    shutil.copy(REPO / "edgefn.toml", project / "edgefn.toml")
    return project


def listing(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """`edgefn plugins` output as {name: (origin, hooks)} (the plugins, before the fast paths)."""
    plugins: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in stdout.split("\nfast paths:\n")[0].splitlines():
        if line.startswith("    "):
            plugins[current][1].append(line.strip())
        elif line.strip():
            name, origin = line.split(" ", 1)
            current = name
            plugins[name] = (origin.strip("()"), [])
    return plugins


def test_a_third_party_plugin_changes_a_real_edgefn_dev(tmp_path: Path) -> None:
    site = plugin_dir(tmp_path)
    env = with_path(site, EDGEFN_PLUGINS='["thirdparty"]')
    with dev_server(example_project(tmp_path), tmp_path / "logs", env=env) as dev:
        answer = httpx.get(f"{dev.ingress}/hello", timeout=10)
        assert answer.status_code == 200
        assert answer.text == "Hello from edgefn!\n"
        assert answer.headers["x-thirdparty"] == "demo.hello 200"  # edgehost_invocation_finished
        assert answer.headers["x-thirdparty-mw"] == "signed"  # edgehost_middleware, role ingress
        missing = httpx.get(f"{dev.ingress}/nowhere", timeout=10)
        assert missing.status_code == 404
        assert missing.headers["x-thirdparty-mw"] == "signed"  # the middleware wraps every answer
        assert "x-thirdparty-mw" not in httpx.get(f"{dev.api}/healthz", timeout=10).headers
        added = httpx.get(f"{dev.api}/thirdparty/hello", timeout=10)  # edgehost_route_handlers, role api
        assert added.status_code == 200
        assert added.json() == {"plugin": "thirdparty"}
        # The route is the plugin's, on the API only: the ingress keeps serving user routes alone.
        assert httpx.get(f"{dev.ingress}/thirdparty/hello", timeout=10).status_code == 404


def test_without_the_plugin_neither_change_is_there(tmp_path: Path) -> None:
    site = plugin_dir(tmp_path)  # importable, but not enabled
    with dev_server(example_project(tmp_path), tmp_path / "logs", env=with_path(site)) as dev:
        answer = httpx.get(f"{dev.ingress}/hello", timeout=10)
        assert answer.status_code == 200
        assert "x-thirdparty" not in answer.headers
        assert "x-thirdparty-mw" not in answer.headers
        assert httpx.get(f"{dev.api}/thirdparty/hello", timeout=10).status_code == 404


def test_disabling_a_builtin_still_starts_and_says_what_is_missing(tmp_path: Path) -> None:
    env = {"EDGEFN_DISABLED_PLUGINS": '["metrics"]'}
    with dev_server(example_project(tmp_path), tmp_path / "logs", env=env) as dev:
        assert httpx.get(f"{dev.ingress}/hello", timeout=10).status_code == 200
        assert httpx.get(f"{dev.metrics}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{dev.metrics}/metrics", timeout=10).status_code == 404
        assert "metrics plugin disabled: /metrics is not served" in dev.stderr
        assert "Traceback" not in dev.stderr


def test_edgefn_plugins_lists_builtins_with_their_hooks() -> None:
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    plugins = listing(result.stdout)
    for name, module in BUILTINS.items():
        origin, hooks = plugins[name]
        assert origin == module
        assert hooks, name
        assert all(hook.startswith("edgehost_") for hook in hooks)
    assert "edgehost_route_handlers" in plugins["metrics"][1]
    assert "edgehost_admission" in plugins["quotas"][1]
    assert "edgehost_route_table" in plugins["routing"][1]
    assert plugins["core"] == (
        "edgehost.core_plugin",
        [
            "edgehost_app_config",
            "edgehost_metric_collectors",
            "edgehost_route_handlers",
            "edgehost_startup_problems",
        ],
    )


def test_edgefn_plugins_lists_a_plugin_from_the_setting(tmp_path: Path) -> None:
    site = plugin_dir(tmp_path)
    from_env = run_cli("plugins", env=with_path(site, EDGEFN_PLUGINS='["thirdparty"]'))
    config = tmp_path / "edgefn-settings.toml"
    config.write_text('plugins = ["thirdparty"]\n')
    from_file = run_cli("plugins", "--config", str(config), env=with_path(site))
    for result in (from_env, from_file):
        assert result.returncode == 0, result.stderr
        assert listing(result.stdout)["thirdparty"] == (
            "thirdparty",
            ["edgehost_invocation_finished", "edgehost_middleware", "edgehost_route_handlers"],
        )
    assert "thirdparty" not in listing(run_cli("plugins", env=with_path(site)).stdout)


def test_edgefn_plugins_says_what_a_disabled_builtin_leaves_out() -> None:
    result = run_cli("plugins", env={"EDGEFN_DISABLED_PLUGINS": '["metrics", "quotas"]'})
    assert result.returncode == 0, result.stderr
    plugins = listing(result.stdout)
    assert "metrics" not in plugins
    assert "quotas" not in plugins
    assert "routing" in plugins
    assert "metrics plugin disabled: /metrics is not served" in result.stderr
    assert "quotas plugin disabled: no per-tenant concurrency or rate limits are enforced" in result.stderr


def test_a_plugin_that_cannot_be_imported_stops_start_up_naming_it() -> None:
    result = run_cli("plugins", env={"EDGEFN_PLUGINS": '["no_such_plugin_module"]'})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: plugin 'no_such_plugin_module' cannot be imported: No module named 'no_such_plugin_module'"
    ]


ENTRY_POINT_PLUGIN = """
from edgehost.hookspecs import hookimpl


@hookimpl
def edgehost_startup_problems(ctx):
    return ["fakeplug reporting for duty"]
"""


def fake_distribution(
    tmp_path: Path,
    dist: str = "fakeplug",
    module: str = "fakeplug_impl",
    source: str = ENTRY_POINT_PLUGIN,
    entry_point: str = "fakeplug",
) -> Path:
    """An installed distribution as importlib.metadata sees one: a `*.dist-info` whose `edgehost`
    entry point `entry_point` is the module `module` (written from `source`)."""
    site = plugin_dir(tmp_path, module, source)
    dist_info = site / f"{dist}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[edgehost]\n{entry_point} = {module}\n")
    return site


def test_entry_points_in_the_edgehost_group_are_loaded(tmp_path: Path) -> None:
    site = fake_distribution(tmp_path)
    result = run_cli("plugins", env=with_path(site))
    assert result.returncode == 0, result.stderr
    assert listing(result.stdout)["fakeplug"] == ("fakeplug", ["edgehost_startup_problems"])
    assert "fakeplug reporting for duty" in result.stderr  # its hook ran at start-up


def test_an_entry_point_plugin_can_be_disabled_by_name(tmp_path: Path) -> None:
    site = fake_distribution(tmp_path)
    result = run_cli("plugins", env=with_path(site, EDGEFN_DISABLED_PLUGINS='["fakeplug"]'))
    assert result.returncode == 0, result.stderr
    assert "fakeplug" not in listing(result.stdout)
    assert "fakeplug reporting for duty" not in result.stderr


CLI_PLUGIN = """
import click

from edgehost.hookspecs import hookimpl


@click.command("stamp")
def stamp():
    \"\"\"Prints a stamp.\"\"\"
    click.echo("stamped")


@hookimpl
def edgehost_cli_commands():
    return [stamp]
"""


def test_a_plugin_from_the_setting_adds_a_cli_command(tmp_path: Path) -> None:
    env = with_path(plugin_dir(tmp_path, "stampcli", CLI_PLUGIN), EDGEFN_PLUGINS='["stampcli"]')
    assert "stamp" in run_cli("--help", env=env).stdout
    ran = run_cli("stamp", env=env)
    assert (ran.returncode, ran.stdout.strip()) == (0, "stamped"), ran.stderr
    disabled = run_cli("stamp", env={**env, "EDGEFN_DISABLED_PLUGINS": '["stampcli"]'})
    assert disabled.returncode == 2 and "No such command" in disabled.stderr


def test_no_builtin_plugin_adds_a_cli_command() -> None:
    """The CLI lists plugin commands without importing the built-ins; one adding a command would be lost."""
    pm = make_plugin_manager(entry_points=False)
    assert pm.hook.edgehost_cli_commands.get_hookimpls() == []


# In-process: the manager itself.


def test_builtins_register_through_the_same_path_as_third_parties() -> None:
    pm = make_plugin_manager(entry_points=False)
    names = {name for name, _ in pm.list_name_plugin()}
    assert names == {*BUILTINS, "core"}
    assert set(BUILTIN_CAPABILITIES) == set(BUILTINS)
    assert {name for name, _, _ in describe(pm)} == names


def test_unknown_plugin_module_raises_plugin_error() -> None:
    with pytest.raises(PluginError, match="plugin 'nope_nope' cannot be imported"):
        make_plugin_manager(["nope_nope"], entry_points=False)


def test_core_cannot_be_disabled() -> None:
    pm = make_plugin_manager(disabled=["core"], entry_points=False)
    assert pm.get_plugin("core") is not None


class Admission:
    @hookimpl
    def edgehost_admission(self, ctx: AppContext) -> Any:
        return object()


def problems(pm: pluggy.PluginManager, disabled: list[str]) -> list[str]:
    settings = load_settings(None, overrides={"disabled_plugins": disabled})
    ctx = AppContext(settings=settings, pm=pm, mode="dev")
    return [p for group in pm.hook.edgehost_startup_problems(ctx=ctx) for p in group]


def test_every_disabled_builtin_is_reported_unless_replaced() -> None:
    everything = list(BUILTINS)
    pm = make_plugin_manager(disabled=everything, entry_points=False)
    reported = problems(pm, everything)
    assert [p.split(" plugin disabled: ")[0] for p in reported] == everything
    # A replacement providing the same capability means nothing is missing.
    pm = make_plugin_manager(disabled=["quotas"], entry_points=False)
    assert problems(pm, ["quotas"]) == [
        "quotas plugin disabled: no per-tenant concurrency or rate limits are enforced"
    ]
    pm.register(Admission(), name="geo-quotas")
    assert problems(pm, ["quotas"]) == []
    assert missing_capabilities(pm, ["edgehost.plugins.quotas", "not-a-builtin"]) == []


def test_a_misspelt_disabled_plugin_is_reported() -> None:
    pm = make_plugin_manager(disabled=["metric"], entry_points=False)
    assert problems(pm, ["metric"]) == [
        "disabled_plugins names 'metric', but no plugin has that name (see `edgefn plugins`)"
    ]
    assert pm.get_plugin("metrics") is not None


def test_hookspecs_each_have_a_docstring() -> None:
    specs = [getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("edgehost_")]
    assert len(specs) >= 18
    for spec in specs:
        assert spec.__doc__ and len(spec.__doc__.strip()) > 20, spec.__name__


def test_plugins_listing_is_json_friendly() -> None:
    """`describe` gives plain strings, so other tools (and `edgefn plugins`) can print it any way."""
    pm = make_plugin_manager(entry_points=False)
    json.dumps(describe(pm))


def test_per_request_hooks_are_called_directly_in_pluggys_order_unless_a_wrapper_needs_pluggy() -> None:
    calls: list[str] = []

    class First:
        @hookimpl(tryfirst=True)
        def edgehost_invocation_finished(self, invocation: object) -> None:
            calls.append(f"first {invocation}")

    class Plain:
        @hookimpl
        def edgehost_invocation_finished(self, invocation: object) -> None:
            calls.append(f"plain {invocation}")

    class Wrapper:
        @hookimpl(wrapper=True)
        def edgehost_invocation_finished(self, invocation: object) -> Any:
            calls.append("wrapped")
            return (yield)

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Plain(), name="plain")
    pm.register(First(), name="first")
    direct = per_request_calls(pm.hook.edgehost_invocation_finished)
    assert len(direct) == 2
    for _, call in direct:
        call("inv")
    assert calls == ["first inv", "plain inv"]  # the order pluggy itself would call them in
    assert [name for name, _ in direct] == ["first", "plain"]  # named for the ingress's reports
    assert per_request_calls(pm.hook.edgehost_admit) == []  # nothing to call: no dispatch at all

    pm.register(Wrapper(), name="wrapper")
    calls.clear()
    ((names, dispatch),) = per_request_calls(pm.hook.edgehost_invocation_finished)
    dispatch("inv")
    assert calls == ["wrapped", "first inv", "plain inv"]
    assert sorted(names.split(",")) == ["first", "plain", "wrapper"]  # every plugin it may run
