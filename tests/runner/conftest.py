"""An `Ingress` on a node with the default plugins and no CP, for unit tests of the per-request path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.runner.ingress import Ingress
from edgehost.runner.node import NodeState
from edgehost.settings import load_settings


@pytest.fixture
def ingress(tmp_path: Path) -> Iterator[Ingress]:
    settings = load_settings(
        "runner",
        overrides={
            "runner": {
                "node_id": "n",
                "state_dir": str(tmp_path),
                "cache_dir": str(tmp_path),
                "max_body_bytes": 1024,
            }
        },
    )
    node = NodeState(AppContext(settings=settings, pm=make_plugin_manager(entry_points=False), mode="dev"))
    served = Ingress.from_settings(node, settings.runner)
    yield served
    served.close()
