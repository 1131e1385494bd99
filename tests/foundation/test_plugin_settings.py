"""Plugins own their settings: a third party's entry-point plugin declares `[stamp]` and reads it typed in
a real `edgefn dev`; its bad values, unknown keys and a table of a missing or disabled plugin stop
start-up with one line naming the key, exactly as the core's settings do."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.plugin_manager import PluginError, make_plugin_manager
from edgehost.plugins.caching import CacheSettings
from edgehost.plugins.pooling import PoolSettings
from edgehost.settings import Settings, SettingsError, SettingsSection, load_settings
from tests.foundation.test_plugins import example_project, fake_distribution, listing, with_path
from tests.procs import dev_server, run_cli

STAMP = """
from typing import Annotated

import msgspec

from edgehost.hookspecs import hookimpl
from edgehost.settings import PositiveInt, SettingsSection


class StampSettings(SettingsSection, frozen=True):
    header: Annotated[str, msgspec.Meta(min_length=1, description="a header name")] = "x-stamp"
    times: PositiveInt = 1


@hookimpl
def edgehost_settings_sections():
    return {"stamp": StampSettings}


_headers: list[tuple[str, str]] = []


@hookimpl
def edgehost_startup_problems(ctx):
    # Reads its table once at start-up, typed, as a real plugin would (`!r` shows 3, not '3').
    stamp = ctx.settings.section(StampSettings)
    _headers[:] = [(stamp.header, "stamped")] * stamp.times
    return [f"stamp settings: {stamp.header} x{stamp.times!r}"]


@hookimpl
def edgehost_invocation_finished(invocation):
    invocation.response_headers.extend(_headers)
"""


def stamp_distribution(tmp_path: Path) -> Path:
    """An installed distribution `acme-stamp` whose `edgehost` entry point `stamp` is the module."""
    return fake_distribution(tmp_path, "acme-stamp", "acme_stamp", STAMP, "stamp")


def one_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_third_party_table_is_read_typed_with_its_defaults(tmp_path: Path) -> None:
    site = stamp_distribution(tmp_path)
    defaults = run_cli("plugins", env=with_path(site))
    assert defaults.returncode == 0, defaults.stderr
    assert "stamp settings: x-stamp x1" in defaults.stderr
    assert "edgehost_settings_sections" in listing(defaults.stdout)["stamp"][1]
    config = tmp_path / "c.toml"
    config.write_text('[stamp]\nheader = "x-acme"\n')
    from_both = run_cli("plugins", "--config", str(config), env=with_path(site, EDGEFN_STAMP__TIMES="3"))
    assert from_both.returncode == 0, from_both.stderr
    assert "stamp settings: x-acme x3" in from_both.stderr  # 3, an int: typed, not the string "3"


def test_a_third_party_table_changes_a_real_edgefn_dev(tmp_path: Path) -> None:
    env = with_path(stamp_distribution(tmp_path), EDGEFN_STAMP__HEADER="x-acme", EDGEFN_STAMP__TIMES="2")
    with dev_server(example_project(tmp_path), tmp_path / "logs", env=env) as dev:
        answer = httpx.get(f"{dev.ingress}/hello", timeout=10)
        assert answer.status_code == 200
        assert answer.headers.get_list("x-acme") == ["stamped", "stamped"]


@pytest.mark.parametrize(
    ("env", "toml", "message"),
    [
        ({"EDGEFN_STAMP__TIMES": "0"}, "", "stamp.times must be a positive integer, got 0"),
        ({"EDGEFN_STAMP__TIMES": "many"}, "", "stamp.times must be a positive integer, got 'many'"),
        ({}, '[stamp]\nheader = ""\n', "stamp.header must be a header name, got ''"),
        ({}, "[stamp]\ncolour = 1\n", "stamp.colour is not a known setting"),
        ({"EDGEFN_STAMP__COLOUR": "red"}, "", "stamp.colour is not a known setting"),
        ({"EDGEFN_DISABLED_PLUGINS": '["stamp"]'}, "[stamp]\ntimes = 2\n", None),
        ({"EDGEFN_DISABLED_PLUGINS": '["pooling"]', "EDGEFN_POOL__IDLE_TIMEOUT_S": "5"}, "", None),
        ({}, "[stamps]\ntimes = 2\n", "stamps is not a known setting"),
    ],
)
def test_a_bad_plugin_table_exits_2_naming_the_key(
    tmp_path: Path, env: dict[str, str], toml: str, message: str | None
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(toml)
    result = run_cli("plugins", "--config", str(config), env=with_path(stamp_distribution(tmp_path), **env))
    assert result.returncode == 2
    if message is None:  # a disabled plugin's table: named with the plugin that owns it
        plugin = "stamp" if "stamp" in toml else "pooling"
        table = "stamp" if "stamp" in toml else "pool"
        message = f"{table} is a setting of the plugin {plugin!r}, which disabled_plugins disables"
    assert one_line(result) == f"error: {message}"
    assert result.stdout == ""


def test_a_table_whose_plugin_is_not_installed_is_not_a_known_setting(tmp_path: Path) -> None:
    result = run_cli("plugins", env={"EDGEFN_STAMP__TIMES": "2"})
    assert result.returncode == 2
    assert one_line(result) == "error: stamp is not a known setting"


# In-process: the manager's checks of what plugins declare.


class Twice(SettingsSection, frozen=True):
    max_bytes: int = 1


class Declares:
    def __init__(self, tables: Any) -> None:
        self.tables = tables

    @hookimpl
    def edgehost_settings_sections(self) -> Any:
        return self.tables


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"cache": Twice}, r"^plugins 'caching' and 'acme' both declare the settings table \[cache\]$"),
        ({"runner": Twice}, r"^plugin 'acme' declares the settings table \[runner\], which is the core's$"),
        ({"acme": dict}, r"^plugin 'acme': edgehost_settings_sections must return a mapping of table names"),
        (["acme"], r"^plugin 'acme': edgehost_settings_sections must return a mapping of table names"),
    ],
)
def test_a_table_declared_twice_or_badly_is_a_plugin_error(tables: Any, message: str) -> None:
    pm = make_plugin_manager(entry_points=False)
    pm.register(Declares(tables), name="acme")
    with pytest.raises(PluginError, match=message):
        AppContext(settings=load_settings("runner"), pm=pm, mode="runner")


def test_typed_tables_survive_the_workers_json_hand_over() -> None:
    """A runner hands its settings to its workers as JSON; each types the tables again."""
    pm = make_plugin_manager(entry_points=False)
    overrides = {"pool.idle_timeout_s": 7, "cache.max_bytes": 4096}
    parent = AppContext(settings=load_settings("runner", overrides=overrides), pm=pm, mode="runner")
    decoded = msgspec.json.decode(msgspec.json.encode(parent.settings), type=Settings)
    worker = AppContext(settings=decoded, pm=pm, mode="runner")
    assert worker.settings == parent.settings
    assert worker.settings.section(PoolSettings).idle_timeout_s == 7.0
    assert worker.settings.section(CacheSettings).max_bytes == 4096


def test_random_values_of_the_builtin_tables_are_typed_or_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Property-style, fixed seed: any value for a plugin's key either reads back typed and equal, or
    is refused with the line naming that key; never another key, never a traceback."""
    rng = random.Random(14)
    keys = {
        ("pool", "idle_timeout_s"): (float, lambda v: v > 0),
        ("pool", "memory_pressure_percent"): (float, lambda v: 0 < v <= 100),
        ("cache", "max_bytes"): (int, lambda v: v >= 1),
    }
    pm = make_plugin_manager(entry_points=False)
    for _ in range(60):
        (table, key), (kind, valid) = rng.choice(list(keys.items()))
        raw = rng.choice([rng.randint(-5, 200), round(rng.uniform(-5, 200), 2), "x" + str(rng.random())])
        monkeypatch.setenv(f"EDGEFN_{table.upper()}__{key.upper()}", str(raw))
        acceptable = (
            isinstance(raw, int | float) and (kind is float or float(raw).is_integer()) and valid(raw)
        )
        try:
            settings = AppContext(settings=load_settings(None), pm=pm, mode="dev").settings
        except SettingsError as exc:
            assert str(exc).startswith(f"{table}.{key} must be "), exc
            assert not acceptable, (table, key, raw, str(exc))
        else:
            assert acceptable, (table, key, raw)
            assert getattr(settings.sections[table], key) == raw
        monkeypatch.delenv(f"EDGEFN_{table.upper()}__{key.upper()}")


@pytest.mark.parametrize("command", [("migrate",), ("token", "--subject", "bob"), ("plugins",)])
def test_commands_that_only_read_settings_refuse_a_bad_plugin_table_too(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[pool]\nidle = 1\n")
    result = run_cli(*command, "--config", str(config))
    assert result.returncode == 2
    assert one_line(result) == "error: pool.idle is not a known setting"
