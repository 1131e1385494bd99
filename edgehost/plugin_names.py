"""How plugins are named: the built-ins by their short names, every other plugin by its full module
path or entry point's name (docs/plugins.md, "Names"); and the error a plugin that cannot be loaded
raises. Imports nothing of edgehost's, so the settings' typing (edgehost/plugin_tables.py) and the
plugin manager share it without an import cycle.
"""

from __future__ import annotations

# pluggy's project name: the hook markers' (edgehost/hookspecs.py) and the entry-point group's.
PROJECT = "edgehost"

# The built-in plugins by their documented short names (docs/plugins.md), registered through
# `register_module` like any third-party one. Every other plugin is named by its full module path
# (`acme.metrics`) or its entry point's name, so it never shadows or blocks a built-in.
BUILTINS: dict[str, str] = {
    "auth": "edgehost.plugins.auth",
    "storage": "edgehost.plugins.storage",
    "routing": "edgehost.plugins.routing",
    "caching": "edgehost.plugins.caching",
    "pooling": "edgehost.plugins.pooling",
    "quotas": "edgehost.plugins.quotas",
    "metrics": "edgehost.plugins.metrics",
    "invocation_log": "edgehost.plugins.invocation_log",
    "hostcalls": "edgehost.plugins.hostcalls",
    "kv": "edgehost.plugins.kv",
}
# Their modules, in registration order.
DEFAULT_PLUGINS: tuple[str, ...] = tuple(BUILTINS.values())
BUILTIN_NAMES = {module: name for name, module in BUILTINS.items()}


class PluginError(Exception):
    """A configured plugin that cannot be loaded; the message names it."""


def plugin_name(module_name: str) -> str:
    """The name a plugin module registers under: a built-in's short name, otherwise its full path."""
    return BUILTIN_NAMES.get(module_name, module_name)
