"""What every hook receives: the settings, the plugin manager, and the role's live services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pluggy

from edgehost.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    pm: pluggy.PluginManager
    mode: str
    # Live services by name (the CP's `registry`, the runner's `runner`, ...), set at assembly.
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.pm.hook
