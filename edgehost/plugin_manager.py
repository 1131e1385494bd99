"""The plugin manager: built-ins, configured modules and entry points all register the same way."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pluggy
from pluggy import HookCaller

from edgehost import hookspecs
from edgehost.plugin_names import BUILTIN_NAMES, BUILTINS, DEFAULT_PLUGINS, PluginError, plugin_name

log = logging.getLogger(__name__)

# What each built-in plugin is for, so that disabling one is reported at start-up in a sentence.
# The hook is the capability it provides: when another plugin implements that hook, the built-in
# was replaced rather than lost, and nothing is reported.
BUILTIN_CAPABILITIES: dict[str, tuple[str | None, str]] = {
    "auth": (
        "edgehost_authenticate_developer",
        "no plugin verifies developer or node tokens, so the API answers 401 and runners cannot sync",
    ),
    "storage": (
        "edgehost_artifact_store",
        "no artifact store, so the control plane cannot start",
    ),
    "routing": ("edgehost_route_table", "no route table, so the ingress answers 404 to every request"),
    "caching": ("edgehost_artifact_cache", "no artifact cache, so the runner cannot start"),
    "pooling": ("edgehost_instance_pool", "no instance pool, so the runner cannot start"),
    "quotas": ("edgehost_admission", "no per-tenant concurrency or rate limits are enforced"),
    "metrics": (None, "/metrics is not served and invocations are not counted"),
    "invocation_log": (None, "no JSON log line is written per invocation"),
    "hostcalls": (
        "edgehost_host_functions",
        "guests cannot import edgefn host functions, so modules that do are rejected",
    ),
    "kv": (
        None,
        "no KV stores: guests importing edgefn.kv_* are rejected and `edgefn kv` answers 404",
    ),
}
CORE = "core"


def register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """`pm.register`, with pluggy's errors (a name taken twice, a module registered twice, a hook
    implementation that does not match its spec) turned into one `PluginError` sentence naming it."""
    holder = pm.get_plugin(name)
    if holder is not None:
        taken_by = getattr(holder, "__name__", type(holder).__name__)
        raise PluginError(f"plugin {name!r} cannot be registered: {taken_by} already has that name")
    if pm.is_registered(plugin):
        raise PluginError(
            f"plugin {name!r} cannot be registered: it is already loaded as {pm.get_name(plugin)!r}"
        )
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} cannot be registered: {' '.join(str(exc).split())}") from None


def register_module(pm: pluggy.PluginManager, module_name: str) -> ModuleType:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plugin {module_name!r} cannot be imported: {exc}") from None
    register(pm, module, plugin_name(module_name))
    return module


def builtin(pm: pluggy.PluginManager, name: str) -> Any | None:
    """The registered built-in plugin module `name` (`invocation_log`), or None when it is disabled.

    The core reaches a built-in only this way, never by importing it, so disabling or replacing
    one never leaves the core calling into it."""
    plugin = pm.get_plugin(name)
    return plugin if name in BUILTINS and getattr(plugin, "__name__", None) == BUILTINS[name] else None


def missing_capabilities(pm: pluggy.PluginManager, disabled: Iterable[str]) -> list[str]:
    """One sentence per disabled built-in whose capability no other plugin took over."""
    problems = []
    for name in dict.fromkeys(BUILTIN_NAMES.get(d, d) for d in disabled):
        if name not in BUILTIN_CAPABILITIES:
            continue
        hook, consequence = BUILTIN_CAPABILITIES[name]
        if hook is not None and getattr(pm.hook, hook).get_hookimpls():
            continue
        problems.append(f"{name} plugin disabled: {consequence}")
    return problems


def unknown_disabled(disabled: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Names in `disabled_plugins` that match no built-in, configured module or entry point (a typo)."""
    known = {*BUILTINS, *BUILTINS.values(), *extra}
    known |= {ep.name for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT)}
    return [
        f"disabled_plugins names {name!r}, but no plugin has that name (see `edgefn plugins`)"
        for name in dict.fromkeys(disabled)
        if name not in known and name != CORE
    ]


def per_request_calls(caller: HookCaller) -> list[tuple[str, Callable[[Any], Any]]]:
    """A per-request hook as (plugin name, plain function of its one argument), in pluggy's call order.

    pluggy's dispatch costs microseconds per call even when no plugin implements the hook,
    and the ingress calls three hooks per request. Resolved once, when the ingress is built:
    plugins are registered before that. A hook that has a wrapper, or an implementation
    taking fewer arguments than the spec, keeps pluggy's dispatch as its one function, named
    after every plugin it may run (pluggy does not say which one raised). The names are what
    the ingress reports when a call raises (docs/plugins.md, "Per-request hooks").
    """
    impls = caller.get_hookimpls()
    argnames = caller.spec.argnames if caller.spec is not None else ()
    if all(not (impl.hookwrapper or impl.wrapper) and impl.argnames == argnames for impl in impls):
        return [(impl.plugin_name, impl.function) for impl in reversed(impls)]
    (name,) = argnames
    plugins = ",".join(impl.plugin_name for impl in reversed(impls))
    return [(plugins, lambda value: caller(**{name: value}))]


def make_plugin_manager(
    extra: Iterable[str] = (),
    disabled: Iterable[str] = (),
    *,
    entry_points: bool = True,
    builtins: bool = True,
) -> pluggy.PluginManager:
    """Built-ins, then `plugins = [...]` modules, then the `edgehost` entry-point group, minus `disabled`.

    `builtins=False` leaves the built-ins and the `core` plugin out: the CLI lists plugin commands
    that way, since they add none and importing them (the server stack) cost `edgefn --help` most
    of a second.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if builtins:  # the core's routes, app config and start-up report (core_plugin.py); never disabled
        pm.register(importlib.import_module("edgehost.core_plugin"), name=CORE)
    blocked = {BUILTIN_NAMES.get(name, name) for name in disabled} - {CORE}
    for name in blocked:
        pm.set_blocked(name)
    for module_name in (*(DEFAULT_PLUGINS if builtins else ()), *extra):
        if plugin_name(module_name) not in blocked:
            register_module(pm, module_name)
    if entry_points:
        load_entry_points(pm)
    return pm


def load_entry_points(pm: pluggy.PluginManager) -> None:
    """The `edgehost` entry-point group, each under its entry point's name; a blocked name is skipped."""
    for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        if pm.is_blocked(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:  # any import-time failure of a third party's module
            raise PluginError(f"plugin {entry_point.name!r} cannot be imported: {exc}") from None
        register(pm, plugin, entry_point.name)


def describe(pm: pluggy.PluginManager) -> list[tuple[str, str, list[str]]]:
    """(name, where it comes from, hooks it implements) for each plugin, for `edgefn plugins`:
    an entry point's distribution, otherwise the module (or class) registered."""
    # Names are unique across all sources (`register` refuses a second), so an entry point's name is its.
    dists = {
        ep.name: ep.dist.name
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT)
        if ep.dist is not None
    }
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        origin = dists.get(name) or str(getattr(plugin, "__name__", type(plugin).__name__))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append((name, origin, hooks))
    return rows
