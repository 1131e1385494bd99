"""Settings: the keys and defaults of docs/settings.md, `EDGEFN_*` overrides, bad values stopping start-up."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.settings import MODES, Settings, SettingsError, load_settings, worker_count
from tests.procs import REPO, dev_server, run_cli

# docs/settings.md: these keys and defaults are fixed for every mode.
FIXED_DEFAULTS: dict[str, Any] = {
    "quotas.max_concurrent": 100,
    "quotas.per_minute": 10000,
    "quotas.cpu_seconds_per_day": 3600,
    "quotas.storage": "memory://",
    "runner.max_body_bytes": 1048576,
    "cache.max_bytes": 10737418240,
    "pool.idle_timeout_s": 300,
    "pool.memory_pressure_percent": 80,
    "heartbeat.interval_s": 30,
    "heartbeat.offline_after_s": 120,
    "heartbeat.watch": True,
}

# docs/settings.md: the distributed modes (`edgefn serve`) rely on these keys too.
SERVE_DEFAULTS: dict[str, Any] = {
    "artifacts.backend": "local",
    "api.host": "127.0.0.1",
    "api.port": 8787,
    "api.node_port": 8788,
    "nodes.allow": [],
    "runner.labels": {},
    "runner.host": "0.0.0.0",
    "runner.ingress_port": 8080,
    "runner.metrics_port": 9090,
    "runner.cache_dir": "/var/cache/wasm",
    "runner.state_dir": "/var/lib/edgefn",
    "runner.public_url": "",  # empty: http://{runner.host}:{runner.ingress_port} (edgehost/addresses.py)
    "runner.metrics_url": "",
    "auth.operators": [],
}

# The ingress's bounds on connections and the time a client may take (docs/runner.md).
INGRESS_DEFAULTS: dict[str, Any] = {
    "runner.max_connections": 10000,
    "runner.max_requests_in_flight": 512,
    "runner.header_timeout_s": 30,
    "runner.send_timeout_s": 30,
    "runner.max_buffered_body_bytes": 512 << 20,
    "runner.body_timeout_s": 30,
}

# What one invocation may hand the host (edgehost/runtime/hostcalls.py, OutputLimits).
OUTPUT_DEFAULTS: dict[str, Any] = {
    "runner.max_fetch_bytes": 1 << 20,
    "runner.max_guest_output_bytes": 64 << 10,
    "runner.max_response_header_bytes": 64 << 10,
}

# Keys docs/settings.md names with an empty default: they must exist (empty until set).
SERVE_KEYS_WITHOUT_DEFAULT = [
    "artifacts.s3.endpoint",
    "artifacts.s3.access_key",
    "artifacts.s3.secret_key",
    "artifacts.s3.bucket",
    "artifacts.s3.secure",
    "artifacts.s3.region",
    "tls.ca_file",
    "tls.cert_file",
    "tls.key_file",
    "auth.signing_key_file",
    "auth.jwks_url",
    "auth.issuer",
    "auth.audience",
    "runner.node_id",
    "runner.control_plane_url",
]


def value(settings: Settings, dotted: str) -> Any:
    """A key's value: a core key, or a key of a plugin's own table (`pool`, `cache`)."""
    first, *rest = dotted.split(".")
    node: Any = settings.sections[first] if first in settings.sections else getattr(settings, first)
    for part in rest:
        node = getattr(node, part)
    return node


def typed(mode: str | None = None, **kwargs: Any) -> Settings:
    """`load_settings`, then typed against the built-in plugins as every command does (their tables)."""
    settings = load_settings(mode, **kwargs)
    pm = make_plugin_manager(settings.plugins, settings.disabled_plugins, entry_points=False)
    return AppContext(settings=settings, pm=pm, mode=settings.mode).settings


# `edgefn dev` runs the control plane and a runner in one process and answers watch long-polls at
# once; config/dev.toml shortens the heartbeat so `edgefn status` shows a fresh node sooner.
# Nothing else differs.
DEV_OVERRIDES = {"heartbeat.interval_s": 5}


@pytest.mark.parametrize("mode", [None, "control-plane", "runner", "dev"])
def test_fixed_keys_have_their_interfaces_defaults(mode: str | None) -> None:
    settings = typed(mode)
    for key, default in FIXED_DEFAULTS.items():
        expected = DEV_OVERRIDES.get(key, default) if mode == "dev" else default
        assert value(settings, key) == expected, key


@pytest.mark.parametrize("mode", ["control-plane", "runner"])
def test_serve_keys_have_their_interfaces_defaults(mode: str) -> None:
    settings = load_settings(mode)
    for key, default in {**SERVE_DEFAULTS, **INGRESS_DEFAULTS, **OUTPUT_DEFAULTS}.items():
        assert value(settings, key) == default, key
    for key in SERVE_KEYS_WITHOUT_DEFAULT:
        value(settings, key)  # exists
    assert settings.tls_enabled is False
    assert settings.database.url == ""
    assert settings.database_url == "sqlite:////var/lib/edgefn/edgefn.db"  # sqlite:///{state_dir}/edgefn.db
    # runner.workers defaults to the cores; other modes serve from one process
    assert worker_count(settings) == ((os.cpu_count() or 1) if mode == "runner" else 1)
    assert settings.runner.bring_up_slots() == (os.cpu_count() or 1)  # compiles at once: the cores


def test_the_database_default_follows_the_state_dir(tmp_path: Path) -> None:
    settings = load_settings("control-plane", overrides={"state_dir": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/edgefn.db"


def test_each_mode_reads_its_own_file() -> None:
    assert load_settings("dev").runner.node_id == "dev"  # config/dev.toml
    assert load_settings("dev").heartbeat.interval_s == 5
    assert load_settings("runner").runner.node_id == ""
    assert {load_settings(mode).mode for mode in MODES} == set(MODES)


@pytest.mark.parametrize(
    ("env", "key", "expected"),
    [
        ({"EDGEFN_QUOTAS__PER_MINUTE": "5"}, "quotas.per_minute", 5),
        ({"EDGEFN_QUOTAS__STORAGE": "redis://127.0.0.1:6379"}, "quotas.storage", "redis://127.0.0.1:6379"),
        ({"EDGEFN_HEARTBEAT__INTERVAL_S": "2.5"}, "heartbeat.interval_s", 2.5),
        ({"EDGEFN_HEARTBEAT__WATCH": "false"}, "heartbeat.watch", False),
        ({"EDGEFN_RUNNER__LABELS__region": "tokyo"}, "runner.labels", {"region": "tokyo"}),
        (
            {"EDGEFN_RUNNER__LABELS": '{ region = "tokyo", tier = "Gold" }'},
            "runner.labels",
            {"region": "tokyo", "tier": "Gold"},
        ),
        ({"EDGEFN_NODES__ALLOW": '["edge-1", "edge-2"]'}, "nodes.allow", ["edge-1", "edge-2"]),
        ({"EDGEFN_PLUGINS": '["my_plugin"]'}, "plugins", ["my_plugin"]),
        ({"EDGEFN_ARTIFACTS__S3__SECURE": "false"}, "artifacts.s3.secure", False),
        (
            {"EDGEFN_DATABASE__URL": "postgresql://u:p@db:5432/edgefn"},
            "database_url",
            "postgresql://u:p@db:5432/edgefn",
        ),
    ],
)
def test_env_overrides_nest_with_double_underscores(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], key: str, expected: Any
) -> None:
    for name, raw in env.items():
        monkeypatch.setenv(name, raw)
    assert value(load_settings("runner"), key) == expected


def test_layers_defaults_mode_file_config_file_then_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "edgefn.toml"
    config.write_text(
        '[quotas]\nper_minute = 7\nstorage = "redis://cache:6379"\n[runner]\nnode_id = "edge-7"\n'
    )
    settings = load_settings("runner", config_file=config)
    assert settings.quotas.per_minute == 7
    assert settings.quotas.max_concurrent == 100  # tables merge, they are not replaced
    assert settings.runner.node_id == "edge-7"
    monkeypatch.setenv("EDGEFN_QUOTAS__PER_MINUTE", "5")
    settings = load_settings("runner", config_file=config)
    assert settings.quotas.per_minute == 5  # the environment wins over files
    assert settings.quotas.storage == "redis://cache:6379"


def test_the_clis_own_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`EDGEFN_TOKEN` and `EDGEFN_API` are `edgefn deploy`'s; a server started beside them ignores them."""
    monkeypatch.setenv("EDGEFN_TOKEN", "eyJ...")
    monkeypatch.setenv("EDGEFN_API", "http://cp.example.com:8787")
    monkeypatch.setenv("EDGEFN_DEBUG", "1")
    monkeypatch.setenv("EDGEFN_LOG_LEVEL", "debug")
    monkeypatch.setenv("EDGEFN_API__PORT", "9999")
    settings = load_settings("control-plane")
    assert settings.api.port == 9999
    assert settings.api.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"EDGEFN_QUOTAS__PER_MINUTE": "banana"},
            "quotas.per_minute must be a positive integer, got 'banana'",
        ),
        ({"EDGEFN_QUOTAS__PER_MINUTE": "0"}, "quotas.per_minute must be a positive integer, got 0"),
        ({"EDGEFN_QUOTAS__MAX_CONCURRENT": "-3"}, "quotas.max_concurrent must be a positive integer, got -3"),
        (
            {"EDGEFN_RUNNER__MAX_CONCURRENT_BRING_UPS": "-1"},
            "runner.max_concurrent_bring_ups must be an integer >= 0, got -1",
        ),
        ({"EDGEFN_API__PORT": "70000"}, "api.port must be a port number from 0 to 65535, got 70000"),
        (
            {"EDGEFN_POOL__MEMORY_PRESSURE_PERCENT": "150"},
            "pool.memory_pressure_percent must be a percentage above 0 and at most 100, got 150",
        ),
        (
            {"EDGEFN_HEARTBEAT__INTERVAL_S": "soon"},
            "heartbeat.interval_s must be a positive number, got 'soon'",
        ),
        ({"EDGEFN_HEARTBEAT__WATCH": "sometimes"}, "heartbeat.watch must be true or false, got 'sometimes'"),
        ({"EDGEFN_ARTIFACTS__BACKEND": "ftp"}, "artifacts.backend must be 'local' or 's3', got 'ftp'"),
        ({"EDGEFN_RUNNER__LABELS": "tokyo"}, "runner.labels must be a table, got 'tokyo'"),
        ({"EDGEFN_PLUGINS": "my_plugin"}, "plugins must be a list, got 'my_plugin'"),
        (
            {"EDGEFN_DATABASE__URL": "mysql://db/edgefn"},
            "database.url must be a sqlite:/// or postgresql:// URL, got 'mysql://db/edgefn'",
        ),
        (
            {"EDGEFN_RUNNER__MAX_CONNECTIONS": "0"},
            "runner.max_connections must be an integer from 1 to 1000000, got 0",
        ),
        (
            {"EDGEFN_RUNNER__MAX_CONNECTIONS": "100000000000000000000"},
            "runner.max_connections must be an integer from 1 to 1000000, got 100000000000000000000",
        ),
        (
            {"EDGEFN_RUNNER__MAX_REQUESTS_IN_FLIGHT": "many"},
            "runner.max_requests_in_flight must be a positive integer, got 'many'",
        ),
        (
            {"EDGEFN_RUNNER__HEADER_TIMEOUT_S": "0"},
            "runner.header_timeout_s must be a number of seconds above 0 and at most 3600, got 0",
        ),
        (
            {"EDGEFN_RUNNER__MAX_GUEST_OUTPUT_BYTES": "0"},
            "runner.max_guest_output_bytes must be a positive integer, got 0",
        ),
        (
            {"EDGEFN_RUNNER__MAX_RESPONSE_HEADER_BYTES": "64k"},
            "runner.max_response_header_bytes must be a positive integer, got '64k'",
        ),
        (
            {"EDGEFN_RUNNER__MAX_BUFFERED_BODY_BYTES": "1000"},
            "runner.max_buffered_body_bytes must be at least runner.max_body_bytes (1048576), got 1000",
        ),
        (
            {"EDGEFN_RUNNER__SEND_TIMEOUT_S": "-5"},
            "runner.send_timeout_s must be a number of seconds above 0 and at most 3600, got -5",
        ),
        (
            {"EDGEFN_RUNNER__BODY_TIMEOUT_S": "1e30"},
            "runner.body_timeout_s must be a number of seconds above 0 and at most 3600, got 1e+30",
        ),
        (
            {"EDGEFN_RUNNER__PUBLIC_URL": "edge-1:8080"},
            "runner.public_url must be an http(s):// URL with a host, got 'edge-1:8080': "
            "not an http:// or https:// URL",
        ),
        (
            {"EDGEFN_RUNNER__METRICS_URL": "http://edge 1:9090"},
            "runner.metrics_url must be an http(s):// URL with a host, got 'http://edge 1:9090': "
            "holds spaces or control characters",
        ),
        ({"EDGEFN_AUTH__OPERATORS": "alice"}, "auth.operators must be a list, got 'alice'"),
        ({"EDGEFN_QUOTAS__PER_MINUT": "5"}, "quotas.per_minut is not a known setting"),
        ({"EDGEFN_FROBNICATE": "1"}, "frobnicate is not a known setting"),
        ({"EDGEFN_MODE": "banana"}, "mode must be one of control-plane, runner, dev, got 'banana'"),
    ],
)
def test_a_bad_value_names_its_key(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, raw in env.items():
        monkeypatch.setenv(name, raw)
    with pytest.raises(SettingsError) as err:
        typed(None)
    assert str(err.value) == message


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^mode must be one of control-plane, runner, dev, got 'edge'$"):
        load_settings("edge")


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^config file .*nowhere.toml does not exist$"):
        load_settings("runner", config_file=tmp_path / "nowhere.toml")


def test_an_unknown_key_in_a_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[pool]\nidle_timeout = 10\n")
    with pytest.raises(SettingsError, match=r"^pool.idle_timeout is not a known setting$"):
        typed("runner", config_file=config)


def one_error_line(result: Any) -> str:
    """The whole of stderr must be one line (no traceback, no log noise) and stdout empty."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_serve_stops_on_a_bad_env_value_with_one_line_naming_the_key() -> None:
    result = run_cli("serve", "--mode", "runner", env={"EDGEFN_QUOTAS__PER_MINUTE": "banana"})
    assert result.returncode == 2
    assert one_error_line(result) == "error: quotas.per_minute must be a positive integer, got 'banana'"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[api]\nport = "high"\n', "error: api.port must be a port number from 0 to 65535, got 'high'"),
        ("[quotas]\nper_minute = 1.5\n", "error: quotas.per_minute must be a positive integer, got 1.5"),
        ("[runner]\nlabels = [1, 2]\n", "error: runner.labels must be a table, got [1, 2]"),
        ("[cache]\nmax_byte = 1\n", "error: cache.max_byte is not a known setting"),
        (
            "[runner]\nheader_timeout_s = -1\n",
            "error: runner.header_timeout_s must be a number of seconds above 0 and at most 3600, got -1",
        ),
    ],
)
def test_serve_stops_on_a_bad_config_file(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = run_cli("serve", "--mode", "control-plane", "--config", str(config))
    assert result.returncode == 2
    assert one_error_line(result) == message


def test_serve_stops_on_a_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("serve", "--mode", "control-plane", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert one_error_line(result) == f"error: config file {tmp_path / 'missing.toml'} does not exist"


def test_serve_stops_on_unreadable_toml(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[quotas\nper_minute = 5\n")
    result = run_cli("serve", "--mode", "runner", "--config", str(config))
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith(f"error: cannot read settings from {config}: ")
    assert "line 1" in line


def test_serve_refuses_an_unknown_mode() -> None:
    result = run_cli("serve", "--mode", "edge")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "'edge' is not one of 'control-plane', 'runner'" in result.stderr


def test_a_bad_mode_from_the_environment_stops_any_command() -> None:
    result = run_cli("plugins", env={"EDGEFN_MODE": "edge"})
    assert result.returncode == 2
    assert one_error_line(result) == "error: mode must be one of control-plane, runner, dev, got 'edge'"


def test_runner_mode_names_the_settings_it_still_needs() -> None:
    result = run_cli("serve", "--mode", "runner")
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("error: runner mode needs runner.node_id, runner.control_plane_url")


def test_env_overrides_reach_a_running_edgefn_dev(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    shutil.copytree(REPO / "functions" / "hello", project / "functions" / "hello")
    shutil.copy(REPO / "edgefn.toml", project / "edgefn.toml")
    env = {"EDGEFN_RUNNER__MAX_BODY_BYTES": "8", "EDGEFN_QUOTAS__PER_MINUTE": "3"}
    with dev_server(project, tmp_path / "logs", env=env) as dev:
        too_big = httpx.request("GET", f"{dev.ingress}/hello", content=b"x" * 9, timeout=10)
        assert too_big.status_code == 413  # runner.max_body_bytes
        statuses = [httpx.get(f"{dev.ingress}/hello", timeout=10).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # quotas.per_minute (the 413 came before admission)
        limited = httpx.get(f"{dev.ingress}/hello", timeout=10)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
