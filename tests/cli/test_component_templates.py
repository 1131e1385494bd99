"""`edgefn init` and `edgefn add` with the component templates (python, js): the project they
write builds and passes the control plane's checks; a guest that does not build is one line and
exit 2.

Builds come from tests/components.py's cache (one per distinct source, ever): what is tested
here is what surrounds a build; tests/toolchains tests the builds themselves. `edgefn dev` loads
sources through the same function as `edgefn build` (edgehost.project.apply.build_artifacts);
tests/wasi_http serves components through it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgehost.cli.templates import TEMPLATES
from tests.components import prebuild
from tests.procs import REPO, run_cli

pytestmark = [pytest.mark.toolchains, pytest.mark.timeout(600)]


def test_the_examples_are_what_init_writes() -> None:
    """functions/hello-py and functions/hello-js stay the templates' hello, so they build as
    init's projects do (and share their cached builds)."""
    assert (REPO / "functions/hello-py/app.py").read_text() == TEMPLATES["python"].text
    assert (REPO / "functions/hello-js/hello.js").read_text() == TEMPLATES["js"].text


def test_init_python_and_add_js_make_a_project_build_accepts(tmp_path: Path) -> None:
    created = run_cli("init", "proj", "--template", "python", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "proj"
    added = run_cli("add", "api", "--template", "js", cwd=project)
    assert added.returncode == 0, added.stderr
    hello, api = project / "functions/hello/app.py", project / "functions/api/api.js"
    assert "Hello from api!" in api.read_text() and "api:" in api.read_text()
    toml = (project / "edgefn.toml").read_text()
    assert toml.count("memory_pages = 1024") == 2 and toml.count("max_execution_ms = 1000") == 2
    prebuild(hello)
    prebuild(api)

    built = run_cli("build", cwd=project, timeout=600)
    assert built.returncode == 0, built.stderr
    assert "built hello from" in built.stdout and "built api from" in built.stdout
    assert built.stdout.count(": accepted") == 2


@pytest.mark.parametrize(
    ("template", "init_writes", "add_writes"),
    [("python", "app.py", "app.py"), ("js", "hello.js", "shop-api.js")],
)
def test_each_component_template_writes_its_source_named_for_the_function(
    tmp_path: Path, template: str, init_writes: str, add_writes: str
) -> None:
    assert run_cli("init", "proj", "--template", template, cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    assert (project / "functions/hello" / init_writes).read_text() == TEMPLATES[template].text
    assert run_cli("add", "shop-api", "--template", template, cwd=project).returncode == 0
    added = (project / "functions/shop-api" / add_writes).read_text()
    assert added.count("shop-api:") == 1 and "Hello from shop-api!" in added and "edgefn!" not in added
    assert f'wasm = "functions/shop-api/{add_writes}"' in (project / "edgefn.toml").read_text()


@pytest.mark.parametrize(
    ("template", "broken", "reason"),
    [
        ("python", "class IncomingHandler(\n", "SyntaxError: '(' was never closed (app.py, line 1)"),
        (
            "js",
            'addEventListener("fetch" (e) => 1);\n',
            "SyntaxError: Expected `,` but found `=>` ({source}, line 1)",
        ),
    ],
)
def test_a_guest_that_does_not_build_fails_build_with_one_line(
    tmp_path: Path, template: str, broken: str, reason: str
) -> None:
    assert run_cli("init", "proj", "--template", template, cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    (source,) = [p for p in (project / "functions/hello").iterdir() if p.suffix in (".py", ".js")]
    source.write_text(broken)
    failed = run_cli("build", cwd=project, timeout=300)
    assert failed.returncode == 2
    tool = "componentize-py" if template == "python" else "componentize-js"
    where = source.resolve()
    expected = f"error: building {where} with {tool} failed: {reason.format(source=where)}"
    errors = [line for line in failed.stderr.splitlines() if "WARNING" not in line]
    assert errors == [expected]
    assert not source.with_suffix(".wasm").exists()


def test_a_component_source_no_project_names_is_checked_with_the_templates_limits(tmp_path: Path) -> None:
    """Outside a project, `edgefn build app.py` checks the component with the limits init would
    write (1024 pages), not the project file's defaults (16: CPython alone starts with ~200)."""
    shutil.copytree(REPO / "functions/hello-py", tmp_path / "hello-py")
    prebuild(tmp_path / "hello-py/app.py")
    built = run_cli("build", "hello-py/app.py", cwd=tmp_path, timeout=600)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("built hello-py/app.wasm (") and built.stdout.endswith("accepted\n")
