"""A plain (non-editable) install works without the checkout: the wheel carries the built-in plugins,
the migrations, the default settings, the C SDK and the WIT files inside `edgehost`, and installs
no other top-level package. `edgefn dev` from that install builds and serves a C function from a
folder elsewhere.

Offline and quick: the wheel is built with this venv's setuptools, installed with `--no-deps` into
a fresh venv that borrows this venv's site-packages for the dependencies (a path in a `.pth`, so
the editable install's import hook there is not run and cannot shadow the installed package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.procs import REPO, dev_server

pytestmark = pytest.mark.install

PROJECT = """\
project = "shop"

[[functions]]
name = "hello"
wasm = "hello-c/hello.c"

[[routes]]
host = "*"
path = "/hello"
methods = ["GET"]
function = "hello"

[[deployments]]
function = "hello"
selector = "true"
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# What a build of the checkout must not see: setuptools builds in the source folder (build/), so
# the wheel is built from a copy, where no earlier build's leftovers can slip in.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".edgefn", "*.wasm"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "edgefn"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, source)
    (built,) = out.glob("edgefn-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its `bin` folder."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "checkout_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def test_the_wheel_installs_one_top_level_package_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.startswith("edgefn-")} == {"edgehost"}
    for expected in (
        "edgehost/plugins/quotas.py",
        "edgehost/migrations/__init__.py",
        "edgehost/config/default.toml",
        "edgehost/config/dev.toml",
        "edgehost/sdk/edgefn.h",
        "edgehost/wit/world.wit",  # the WIT world Python guests are built against, with its deps
        "edgehost/wit/deps/http@0.2.3/proxy.wit",
        "edgehost/wit/NOTICE",
        "edgehost/toolchains/js/package-lock.json",  # componentize-js, pinned, and its driver
        "edgehost/toolchains/js/componentize.mjs",
    ):
        assert expected in names


def test_the_installed_edgefn_serves_a_c_function_from_a_folder_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    probe = "import edgehost, edgehost.plugins; print(edgehost.__file__)"
    where = run(installed / "python", "-c", probe, cwd=tmp_path)  # not the checkout, as cwd would be
    assert not Path(where.strip()).is_relative_to(REPO)
    project = tmp_path / "shop"
    project.mkdir()
    (project / "edgefn.toml").write_text(PROJECT)
    (project / "hello-c").mkdir()
    shutil.copy(REPO / "functions" / "hello-c" / "hello.c", project / "hello-c")  # the source only
    with dev_server(project, tmp_path / "logs", command=str(installed / "edgefn")) as dev:
        answer = httpx.get(f"{dev.ingress}/hello", timeout=30)
        assert (answer.status_code, answer.text) == (200, "Hello from C")
    assert (project / "hello-c" / "hello.wasm").is_file()  # built with the installed package's SDK
