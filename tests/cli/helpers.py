"""Helpers for the CLI tests: a control plane's config and client view, and small hello projects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from edgehost.cli.templates import HELLO_WAT
from tests.procs import run_cli, write_project
from tests.services import free_port


@dataclass
class ControlPlane:
    api: str
    config: Path

    def token(self, subject: str) -> str:
        result = run_cli("token", "--subject", subject, "--config", str(self.config))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def get(self, path: str, token: str) -> Any:
        response = httpx.get(f"{self.api}{path}", headers={"authorization": f"Bearer {token}"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def versions(self, project: str, token: str) -> dict[str, list[int]]:
        functions = self.get(f"/v1/projects/{project}/functions", token)["functions"]
        return {f["name"]: sorted(v["version"] for v in f["versions"]) for f in functions}


def cp_config(directory: Path, port: int) -> Path:
    """A control plane on SQLite and a local artifact folder, accepting tokens of its own key."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "cp.toml"
    config.write_text(
        f'state_dir = "{directory / "state"}"\n'
        f'[database]\nurl = "sqlite:///{directory / "state" / "edgefn.db"}"\n'
        f'[auth]\nsigning_key_file = "{directory / "signing-key.pem"}"\n'
        f"[api]\nport = {port}\nnode_port = {free_port()}\n"
    )
    return config


def hello_project(directory: Path, name: str, *functions: str) -> Path:
    """A project whose functions are copies of `edgefn init`'s hello, each with its own greeting."""
    toml = f'project = "{name}"\n'
    files = {}
    for fn in functions:
        toml += f'[[functions]]\nname = "{fn}"\nwasm = "{fn}.wat"\n'
        # Projects share one CP, and on host "*" each path belongs to one project.
        toml += f'[[routes]]\npath = "/{name}/{fn}"\nfunction = "{fn}"\n[[deployments]]\nfunction = "{fn}"\n'
        files[f"{fn}.wat"] = HELLO_WAT.replace("Hello from edgefn!", f"Hello from {fn}!")
    return write_project(directory, toml, files)
