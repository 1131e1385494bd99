"""The docs cannot rot: their marked shell blocks run for real, and every command they name parses.

Convention (an HTML comment right before a fenced ```sh block, invisible when rendered):
  <!-- test -->                     run it with bash -e; it must exit 0
  <!-- test: expect "TEXT" -->      run it until its output holds TEXT (it may need a moment to reload)
  <!-- test: background "TEXT" -->  start it in the background, wait until its output holds TEXT
Blocks run in order in one shell state (working folder and exported variables carry over), with
HOME and the working folder in a temporary directory and the documented ports swapped for free ones.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.procs import EDGEFN, REPO, dev_server, run_cli, wait_until
from tests.services import free_port, free_port_run

DOCS = REPO / "docs"
BLOCK = re.compile(r"<!-- test(?:: (\w+) \"([^\"]*)\")? -->\n```sh\n(.*?)```", re.S)
PORTS = ("8787", "8788", "8900", "8901")
RUNNERS = 2  # `edgefn dev --runners 2`: runner K serves on 8080 + K and 9090 + K


def doc_ports() -> dict[str, str]:
    """A free port for each documented one; the runners' follow dev's as `--runners` derives them."""
    ports = {port: str(free_port()) for port in PORTS}
    for base in (8080, 9090):
        first = free_port_run(RUNNERS + 1)
        ports.update({str(base + k): str(first + k) for k in range(RUNNERS + 1)})
    return ports


def blocks(page: Path) -> list[tuple[str, str, str]]:
    """(mode, text, script) of every marked block; mode is "run", "expect" or "background"."""
    return [(m.group(1) or "run", m.group(2) or "", m.group(3)) for m in BLOCK.finditer(page.read_text())]


class Shell:
    """Runs blocks one after another, carrying the folder and exported variables like one terminal."""

    def __init__(self, home: Path, ports: dict[str, str]) -> None:
        self.home = home
        self.ports = ports
        self.state = home / ".doc-shell"
        self.cwd = home
        self.env = {**os.environ, "HOME": str(home), "PATH": f"{Path(EDGEFN).parent}:{os.environ['PATH']}"}
        self.env.pop("EDGEFN_TOKEN", None)
        self.env.pop("EDGEFN_API", None)
        self.background: list[subprocess.Popen[bytes]] = []

    def localise(self, script: str) -> str:
        for documented, free in self.ports.items():
            script = re.sub(rf"\b{documented}\b", free, script)
        flags = f"--ingress-port {self.ports['8080']} --api-port {self.ports['8787']} "
        flags += f"--metrics-port {self.ports['9090']} --node-port {self.ports['8788']}"
        return re.sub(r"edgefn dev\b(?! --(?:ingress|api|metrics)-port)", f"edgefn dev {flags}", script)

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        prelude = f"set -e\n[ -f {self.state} ] && . {self.state}\ncd {shlex.quote(str(self.cwd))}\n"
        epilogue = f"\nexport -p > {self.state}\npwd > {self.state}.cwd\n"
        result = subprocess.run(
            ["bash", "-c", prelude + self.localise(script) + epilogue],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode == 0:
            self.cwd = Path((self.state.parent / f"{self.state.name}.cwd").read_text().strip())
        return result

    def start(self, script: str, ready: str, log: Path) -> None:
        prelude = f"[ -f {self.state} ] && . {self.state}\ncd {shlex.quote(str(self.cwd))}\n"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", prelude + "exec " + self.localise(script).strip()],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append(process)
        wait_until(lambda: ready in log.read_text() or process.poll() is not None, timeout=90, what=ready)
        assert process.poll() is None, log.read_text()[-3000:]

    def stop(self) -> None:
        """TERM each background process group, then KILL it, like tests.procs does."""
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, 15)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    process.wait(5)


@pytest.mark.parametrize(("page", "at_least"), [("getting-started.md", 10), ("cluster.md", 1)])
def test_marked_blocks_work_as_written(tmp_path: Path, page: str, at_least: int) -> None:
    steps = blocks(DOCS / page)
    assert len(steps) >= at_least
    shell = Shell(tmp_path, doc_ports())
    try:
        for index, (mode, text, script) in enumerate(steps):
            if mode == "background":
                shell.start(script, text, tmp_path / f"background-{index}.log")
                continue
            deadline = time.monotonic() + (60 if mode == "expect" else 0)
            while True:
                result = shell.run(script)
                output = result.stdout + result.stderr
                done = result.returncode == 0 and (mode != "expect" or text in output)
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert done, f"step {index}:\n{script}\nexit {result.returncode}\n{output[-2000:]}"
            assert "Traceback" not in output
    finally:
        shell.stop()


def documented_commands() -> list[tuple[str, ...]]:
    """Every `edgefn ...` invocation in the docs' shell blocks, as its command words."""
    found = set()
    for page in DOCS.glob("*.md"):
        for match in re.finditer(r"```(?:sh|console)\n(.*?)```", page.read_text(), re.S):
            for line in match.group(1).splitlines():
                for call in re.findall(r"\bedgefn ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", line):
                    words = tuple(call.split())
                    found.add(words if words[0] == "ca" else words[:1])
    return sorted(found)


@pytest.mark.parametrize("words", documented_commands(), ids=" ".join)
def test_every_documented_command_exists(words: tuple[str, ...]) -> None:
    result = run_cli(*words, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: edgefn" in result.stdout


def test_the_plugin_example_adds_its_header_and_host_function(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", (DOCS / "plugins.md").read_text(), re.S)
    assert code is not None
    (tmp_path / "edgefn_stamp.py").write_text(code.group(1))
    env = {"PYTHONPATH": str(tmp_path), "EDGEFN_PLUGINS": '["edgefn_stamp"]'}
    listed = run_cli("plugins", env=env)
    assert listed.returncode == 0, listed.stderr
    assert (
        "edgefn_stamp (edgefn_stamp)\n    edgehost_host_functions\n    edgehost_invocation_finished"
        in listed.stdout
    )
    assert run_cli("init", "p", cwd=tmp_path).returncode == 0
    with dev_server(tmp_path / "p", tmp_path / "logs", env=env) as dev:
        assert httpx.get(f"{dev.ingress}/hello").headers["x-served-by"] == "dev"
