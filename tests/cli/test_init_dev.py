"""`edgefn init` makes a project `edgefn dev` serves as is; dev reloads saved edits and survives bad ones."""

from __future__ import annotations

from pathlib import Path

import httpx

from edgehost.cli.templates import HELLO_WAT
from tests.procs import dev_server, run_cli, wait_until


def served(url: str, text: str) -> bool:
    try:
        return httpx.get(url, timeout=5).text == text
    except httpx.HTTPError:
        return False


def test_init_then_dev_reloads_edits_and_keeps_serving_through_a_broken_one(tmp_path: Path) -> None:
    created = run_cli("init", "my-edge", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "my-edge"
    assert 'project = "my-edge"' in (project / "edgefn.toml").read_text()
    source = project / "functions" / "hello" / "hello.wat"

    with dev_server(project, tmp_path / "logs") as dev:
        url = f"{dev.ingress}/hello"
        assert httpx.get(url).text == "Hello from edgefn!\n"

        source.write_text(source.read_text().replace("Hello from edgefn!", "Hello, edited!"))
        wait_until(lambda: served(url, "Hello, edited!\n"), timeout=30, what="the edited greeting")

        source.write_text("(module (func")  # a broken save: reported, and the last good version stays
        wait_until(lambda: "not valid WAT" in dev.stderr, timeout=30, what="the build error")
        assert "still serving the previous version" in dev.stderr
        assert served(url, "Hello, edited!\n")

        toml = project / "edgefn.toml"
        toml.write_text(
            toml.read_text()
            .replace('path = "/hello"', 'path = "/hi"')
            .replace("memory_pages = 16", "memory_page = 16")
        )
        wait_until(lambda: 'did you mean "memory_pages"' in dev.stderr, timeout=30, what="the project error")
        toml.write_text(toml.read_text().replace("memory_page = 16", "memory_pages = 16"))
        source.write_text(HELLO_WAT)
        wait_until(
            lambda: served(f"{dev.ingress}/hi", "Hello from edgefn!\n"), timeout=30, what="the new route"
        )
        assert "Traceback" not in dev.stderr


def test_init_c_template_is_served_by_dev_which_refuses_a_stranger(tmp_path: Path) -> None:
    assert run_cli("init", "c-edge", "--template", "c", cwd=tmp_path).returncode == 0
    project = tmp_path / "c-edge"
    with dev_server(project, tmp_path / "logs") as dev:
        assert httpx.get(f"{dev.ingress}/hello").text == "Hello from edgefn!\n"

        mine = run_cli("deploy", "--api", dev.api, "--token", dev.token, cwd=project)
        assert mine.returncode == 0 and "nothing changed" in mine.stdout, mine.stderr
        minted = run_cli("token", "--subject", "stranger", "--state-dir", str(dev.state_dir))
        assert minted.returncode == 0, minted.stderr
        theirs = run_cli("deploy", "--api", dev.api, "--token", minted.stdout.strip(), cwd=project)
        assert theirs.returncode == 1
        assert "403" in theirs.stderr and "stranger" in theirs.stderr and "Traceback" not in theirs.stderr
