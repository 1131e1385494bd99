"""What every hook receives: the settings, the plugin manager, and the process's live services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy

from edgehost.settings import Settings

T = TypeVar("T")


class Services:
    """The live objects of one process (the CP's `Registry` and `Nodes`, the runner's `NodeState`,
    `SyncAgent` and `Ingress`, ...), added by name at assembly and looked up by their class.

    Lookup by class keeps every reader typed without this module importing the classes (which
    import it), and a caller gets exactly the object it asked for or `None`: never another
    object that happens to have the same attribute names. The names are what Litestar handlers
    read from `app.state` (`state.registry`).

    Per-request readers (the ingress mount, the KV host functions) look services up on every
    call, so each kind's answer is kept until the next `add`: one dict lookup, not a scan.
    """

    def __init__(self) -> None:
        self._named: dict[str, object] = {}
        self._found: dict[type, object] = {}  # kind -> the service `get` found for it

    def add(self, **named: object) -> None:
        self._named.update(named)
        self._found = {}  # a new dict: a lookup that scanned the old services writes to the old one

    def get(self, kind: type[T]) -> T | None:
        """The service that is a `kind`, or None when this process has none."""
        found = self._found
        kept = found.get(kind)
        if kept is not None:
            return kept  # type: ignore[return-value]  # stored under its own kind by the scan below
        for value in self._named.values():
            if isinstance(value, kind):
                found[kind] = value
                return value
        return None

    def require(self, kind: type[T]) -> T:
        """The service that is a `kind`; raises LookupError (a host bug: assembly forgot it)."""
        value = self.get(kind)
        if value is None:
            raise LookupError(f"no {kind.__name__} service in this process")
        return value

    def setdefault(self, name: str, kind: type[T], make: Callable[[], T]) -> T:
        """The `kind` service, first made with `make` and added as `name` if there is none yet."""
        value = self.get(kind)
        if value is None:
            value = make()
            self.add(**{name: value})
        return value

    def named(self) -> dict[str, object]:
        return dict(self._named)


@dataclass
class AppContext:
    """`settings` arrive as loaded (`load_settings`, or decoded in a worker) and are typed here
    against the plugins `pm` loaded: each plugin's own tables become the types it declared, so a
    bad value raises `SettingsError` (or `PluginError`) before any hook sees the settings."""

    settings: Settings
    pm: pluggy.PluginManager
    mode: str
    services: Services = field(default_factory=Services)

    def __post_init__(self) -> None:
        from edgehost.plugin_tables import plugin_settings

        self.settings = plugin_settings(self.pm, self.settings)

    @property
    def hook(self) -> Any:
        return self.pm.hook
