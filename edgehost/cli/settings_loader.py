"""Settings and plugin manager for a CLI command, with failures mapped to exit status 2."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgehost.cli.errors import USAGE, CliError
from edgehost.context import AppContext
from edgehost.plugin_manager import PluginError, make_plugin_manager
from edgehost.plugin_tables import plugin_settings
from edgehost.runtime import HostFunction
from edgehost.settings import Settings, SettingsError, load_settings


def settings_or_exit(
    mode: str | None, *, config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """The settings, the plugins' own tables typed too, so every command refuses a bad one."""
    try:
        settings = load_settings(mode, config_file=config_file, overrides=overrides)
        pm = make_plugin_manager(settings.plugins, settings.disabled_plugins)
        return plugin_settings(pm, settings)
    except (PluginError, SettingsError) as exc:
        raise CliError(str(exc), USAGE) from None


def make_context(settings: Settings) -> AppContext:
    """The plugins `settings` name, loaded, and the settings typed against them (their own tables)."""
    try:
        pm = make_plugin_manager(settings.plugins, settings.disabled_plugins)
        ctx = AppContext(settings=settings, pm=pm, mode=settings.mode)
    except (PluginError, SettingsError) as exc:
        raise CliError(str(exc), USAGE) from None
    try:
        problems = pm.hook.edgehost_startup_problems(ctx=ctx)
    except SettingsError as exc:  # a plugin's setting that cannot be used (hookspecs.py)
        raise CliError(str(exc), USAGE) from None
    for group in problems:
        for problem in group or ():
            logging.getLogger("edgefn").warning(problem)
    return ctx


def fast_path_or_exit() -> None:
    """Before a runner serves: the wasmtime-py installed must run the fast call path as its own
    `Func.__call__` does (`runtime/selfcheck.py`), else exit 2 with the one-line reason."""
    from edgehost.runtime.selfcheck import FastPathMismatch, check_fast_path

    try:
        check_fast_path()
    except FastPathMismatch as exc:
        raise CliError(str(exc), USAGE) from None


def local_host_functions() -> list[HostFunction]:
    """What the plugins of this environment's settings (`plugins`, `disabled_plugins`, EDGEFN_*)
    link into guests: `edgefn build` and `deploy` check guests against it before sending anything."""
    from edgehost.startup import host_functions  # the server stack, only for commands that check guests

    return host_functions(make_context(settings_or_exit(None)))
