"""A control plane started separately from the CLI under test, the way a team would run one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.helpers import ControlPlane, cp_config
from tests.procs import control_plane_process, run_cli
from tests.services import free_port


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    directory = tmp_path_factory.mktemp("cp")
    port = free_port()
    config = cp_config(directory, port)
    migrated = run_cli("migrate", "--config", str(config))
    assert migrated.returncode == 0, migrated.stderr
    process = control_plane_process(config, directory)
    try:
        process.wait_port(port)
        yield ControlPlane(f"http://127.0.0.1:{port}", config)
    finally:
        process.stop()
