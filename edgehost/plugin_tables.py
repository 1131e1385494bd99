"""The plugins' own settings tables (`edgehost_settings_sections`), typed once the plugins are loaded.

Apart from the plugin manager (edgehost/plugin_manager.py): `AppContext` types its settings with
this, and the hook specs' types name `AppContext`, so importing the manager here would be a cycle.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping

import pluggy

from edgehost.plugin_names import BUILTIN_NAMES, BUILTINS, PROJECT, PluginError
from edgehost.settings import CORE_KEYS, Settings, SettingsSection, typed_sections


def plugin_settings(pm: pluggy.PluginManager, settings: Settings) -> Settings:
    """`settings` with each loaded plugin's own tables typed (`edgehost_settings_sections`).

    Raises `PluginError` for a table two plugins declare, or one of the core's; `SettingsError`
    (from `typed_sections`) for a table nobody declares, an unknown key or a bad value.
    """
    declared: dict[str, type[SettingsSection]] = {}
    owners: dict[str, str] = {}
    for impl in pm.hook.edgehost_settings_sections.get_hookimpls():  # in registration order
        tables = impl.function() or {}
        if not isinstance(tables, Mapping) or not all(
            isinstance(kind, type) and issubclass(kind, SettingsSection) for kind in tables.values()
        ):
            raise PluginError(
                f"plugin {impl.plugin_name!r}: edgehost_settings_sections must return a mapping of "
                f"table names to SettingsSection subclasses, got {tables!r}"
            )
        for table, kind in tables.items():
            if table in CORE_KEYS:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} declares the settings table [{table}], which is the core's"
                )
            if table in owners:
                raise PluginError(
                    f"plugins {owners[table]!r} and {impl.plugin_name!r} both declare the settings table "
                    f"[{table}]"
                )
            declared[table], owners[table] = kind, impl.plugin_name
    undeclared = set(settings.sections) - set(declared)
    return typed_sections(settings, declared, _disabled_tables(settings) if undeclared else {})


def _disabled_tables(settings: Settings) -> dict[str, str]:
    """The tables each disabled plugin would own, by table: only for naming it in an error line."""
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=PROJECT)}
    found: dict[str, str] = {}
    for name in dict.fromkeys(BUILTIN_NAMES.get(n, n) for n in settings.disabled_plugins):
        try:
            plugin = (
                entry_points[name].load()
                if name in entry_points
                else importlib.import_module(BUILTINS.get(name, name))
            )
            declare = getattr(plugin, "edgehost_settings_sections", None)
            tables = declare() if callable(declare) else {}
        except Exception:  # a misspelt or broken plugin: the error line then says "not a known setting"
            continue
        for table in tables or {}:
            found.setdefault(table, name)
    return found
