"""scripts/bootstrap.sh says what its long first install is doing (issue 16: `scripts/dev.sh`
was silent for about two minutes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.procs import REPO

# A .venv whose python answers `-m pip ...` at once and records the call: the real script runs,
# without installing anything.
FAKE_PYTHON = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
"""


def test_the_first_install_says_what_it_does_and_a_second_run_skips_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    script = f'source "{REPO / "scripts" / "bootstrap.sh"}" && ensure_venv ""'

    def ensure() -> str:
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = ensure()
    assert "pip install -e '.': the first time, about two minutes" in first
    assert "later runs skip it" in first
    assert "-m pip install" in (python.parent / "calls").read_text()
    assert ensure() == ""  # nothing to install, nothing said
