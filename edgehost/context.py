"""What every hook receives: the settings, the plugin manager, and the role's live services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pluggy

from edgehost.settings import Settings


@dataclass
class AppContext:
    """`settings` arrive as loaded (`load_settings`, or decoded in a worker) and are typed here
    against the plugins `pm` loaded: each plugin's own tables become the types it declared, so a
    bad value raises `SettingsError` (or `PluginError`) before any hook sees the settings."""

    settings: Settings
    pm: pluggy.PluginManager
    mode: str
    # Live services by name (the CP's `registry`, the runner's `runner`, ...), set at assembly.
    services: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from edgehost.plugin_manager import plugin_settings

        self.settings = plugin_settings(self.pm, self.settings)

    @property
    def hook(self) -> Any:
        return self.pm.hook
