"""Plugin names: a third party's `acme.metrics` is its own plugin beside the built-in `metrics`, each
disabled by its own name, and a name or module taken twice stops start-up with one line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edgehost.plugin_manager import PluginError, make_plugin_manager, register
from tests.foundation.test_plugins import fake_distribution, listing, with_path
from tests.procs import run_cli

ACME_METRICS = """
from edgehost.hookspecs import hookimpl


@hookimpl
def edgehost_startup_problems(ctx):
    return ["acme.metrics reporting"]
"""


def acme_site(tmp_path: Path) -> Path:
    """A namespace of the third party's own: `acme.metrics`, whose last component is a built-in's name."""
    package = tmp_path / "site" / "acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "metrics.py").write_text(textwrap.dedent(ACME_METRICS))
    return package.parent


def test_acme_metrics_is_listed_beside_the_builtin_metrics(tmp_path: Path) -> None:
    result = run_cli("plugins", env=with_path(acme_site(tmp_path), EDGEFN_PLUGINS='["acme.metrics"]'))
    assert result.returncode == 0, result.stderr
    plugins = listing(result.stdout)
    assert plugins["acme.metrics"] == ("acme.metrics", ["edgehost_startup_problems"])
    assert plugins["metrics"][0] == "edgehost.plugins.metrics"
    assert "edgehost_route_handlers" in plugins["metrics"][1]
    assert "acme.metrics reporting" in result.stderr


@pytest.mark.parametrize(
    ("disabled", "gone", "kept"),
    [("metrics", "metrics", "acme.metrics"), ("acme.metrics", "acme.metrics", "metrics")],
)
def test_disabling_one_of_the_two_leaves_the_other(
    tmp_path: Path, disabled: str, gone: str, kept: str
) -> None:
    env = with_path(
        acme_site(tmp_path), EDGEFN_PLUGINS='["acme.metrics"]', EDGEFN_DISABLED_PLUGINS=f'["{disabled}"]'
    )
    result = run_cli("plugins", env=env)
    assert result.returncode == 0, result.stderr
    plugins = listing(result.stdout)
    assert gone not in plugins
    assert kept in plugins
    assert ("acme.metrics reporting" in result.stderr) is (kept == "acme.metrics")
    assert "but no plugin has that name" not in result.stderr


def test_an_entry_point_taking_a_builtins_name_stops_start_up_with_one_line(tmp_path: Path) -> None:
    site = fake_distribution(tmp_path)
    (site / "fakeplug-1.0.dist-info" / "entry_points.txt").write_text("[edgehost]\nmetrics = fakeplug_impl\n")
    result = run_cli("plugins", env=with_path(site))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: plugin 'metrics' cannot be registered: edgehost.plugins.metrics already has that name"
    ]


def test_a_module_loaded_twice_is_refused_naming_it() -> None:
    with pytest.raises(
        PluginError,
        match=r"^plugin 'metrics' cannot be registered: edgehost.plugins.metrics already has that name$",
    ):
        make_plugin_manager(["edgehost.plugins.metrics"], entry_points=False)
    pm = make_plugin_manager(entry_points=False)
    with pytest.raises(
        PluginError, match=r"^plugin 'acme.metrics' cannot be registered: it is already loaded as 'metrics'$"
    ):
        register(pm, pm.get_plugin("metrics"), "acme.metrics")


def test_a_hook_implementation_that_does_not_match_its_spec_is_one_plugin_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_wrong.py").write_text(
        "from edgehost.hookspecs import hookimpl\n\n\n@hookimpl\ndef edgehost_admit(invocation, tenant):\n"
        "    return None\n"
    )
    result = run_cli("plugins", env=with_path(site, EDGEFN_PLUGINS='["acme_wrong"]'))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: plugin 'acme_wrong' cannot be registered: ")
    assert "tenant" in lines[0]
