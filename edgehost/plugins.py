"""The plugin manager: built-ins, configured modules and entry points all register the same way."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from types import ModuleType

import pluggy

from edgehost import hookspecs

log = logging.getLogger(__name__)

# The built-in plugins, registered through `register_module` like any third-party one.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "plugins.auth",
    "plugins.storage",
    "plugins.routing",
    "plugins.caching",
    "plugins.pooling",
    "plugins.quotas",
    "plugins.metrics",
    "plugins.invocation_log",
    "plugins.hostcalls",
)


class PluginError(Exception):
    """A configured plugin that cannot be loaded; the message names it."""


def short_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def register_module(pm: pluggy.PluginManager, module_name: str) -> ModuleType:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plugin {module_name!r} cannot be imported: {exc}") from None
    pm.register(module, name=short_name(module_name))
    return module


def make_plugin_manager(
    extra: Iterable[str] = (), disabled: Iterable[str] = (), *, entry_points: bool = True
) -> pluggy.PluginManager:
    """Built-ins, then `plugins = [...]` modules, then the `edgehost` entry-point group, minus `disabled`."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = set(disabled)
    for name in blocked:
        pm.set_blocked(name)
    for module_name in (*DEFAULT_PLUGINS, *extra):
        if short_name(module_name) not in blocked and module_name not in blocked:
            register_module(pm, module_name)
    if entry_points:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    return pm


def describe(pm: pluggy.PluginManager) -> list[tuple[str, str, list[str]]]:
    """(name, where it comes from, hooks it implements) for each plugin, for `edgefn plugins`."""
    dists = {id(plugin): str(dist.project_name) for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        origin = dists.get(id(plugin)) or str(getattr(plugin, "__name__", type(plugin).__name__))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append((name, origin, hooks))
    return rows
