"""Every foundation test starts from a clean `EDGEFN_*` environment, so a developer's shell never leaks in."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def clean_edgefn_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("EDGEFN_")]:
        monkeypatch.delenv(name)
    yield
