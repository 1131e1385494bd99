"""Python guests built by componentize-py: a wasi:http component from a folder, a one-line reason
when the guest does not build, nothing rebuilt while fresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgehost.guestbuild import GuestBuildError, guest_sources, load_guest_bytes
from edgehost.toolchains import python
from tests.components import ECHO_PY, python_component, sources_hash

pytestmark = pytest.mark.toolchains
COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"  # magic, then the component layer's version


def test_the_echo_guest_builds_into_a_wasi_http_component(echo_py_component: Path) -> None:
    data = echo_py_component.read_bytes()
    assert data[:8] == COMPONENT_HEADER
    assert b"wasi:http/incoming-handler@0.2" in data and b"wasi:http/outgoing-handler@0.2" in data
    assert python_component(ECHO_PY) == echo_py_component  # once per session


def test_the_cache_key_follows_every_source_and_the_toolchain(tmp_path: Path) -> None:
    folder = tmp_path / "guest"
    shutil.copytree(ECHO_PY, folder)
    app = folder / "app.py"
    key = sources_hash(app, "componentize-py 0.25.1")
    assert sources_hash(app, "componentize-py 0.25.1") == key
    assert sources_hash(app, "componentize-py 0.25.2") != key
    (folder / "helpers.py").write_text("X = 1\n")  # a sibling module the app may import
    assert sources_hash(app, "componentize-py 0.25.1") != key
    app.write_text(app.read_text() + "\n")
    assert python.sources(app)[0] == app and folder / "helpers.py" in python.sources(app)


def test_sources_are_the_folders_python_files_and_the_wit_world(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "__pycache__").mkdir()
    for name in ("app.py", "util.py", "pkg/mod.py", "__pycache__/app.py", "notes.txt"):
        (tmp_path / name).write_text("")
    found = guest_sources(tmp_path / "app.py")
    assert found[:3] == [tmp_path / "app.py", tmp_path / "pkg/mod.py", tmp_path / "util.py"]
    assert all(p.suffix == ".wit" for p in found[3:]) and python.WIT_DIR / "world.wit" in found


def test_a_fresh_component_is_not_rebuilt(tmp_path: Path, echo_py_component: Path) -> None:
    """The output newer than every source is used as it is: no componentize-py run (it would
    fail here: the copied app does not even parse)."""
    app = tmp_path / "app.py"
    app.write_text("this is not python\n")
    out = tmp_path / "app.wasm"
    shutil.copy(echo_py_component, out)
    assert load_guest_bytes(app) == echo_py_component.read_bytes()


# A syntax error: tests/cli/test_component_templates.py, through `edgefn build`.
BAD_GUESTS = {
    "import": (  # raised at pre-initialisation: the frame is the guest's, in its own folder
        "import json\nimport no_such_module\n",
        "ModuleNotFoundError: No module named 'no_such_module' (at {folder}/app.py, line 2)",
    ),
    "no handler": ("GREETING = 'hi'\n", "AttributeError: module 'app' has no attribute 'IncomingHandler'"),
}


@pytest.mark.parametrize("case", sorted(BAD_GUESTS))
def test_a_guest_that_does_not_build_gives_one_line_naming_the_reason(tmp_path: Path, case: str) -> None:
    source, reason = BAD_GUESTS[case]
    app = tmp_path / "app.py"
    app.write_text(source)
    with pytest.raises(GuestBuildError) as info:
        load_guest_bytes(app)
    assert str(info.value) == f"building {app} with componentize-py failed: {reason.format(folder=tmp_path)}"
    assert not (tmp_path / "app.wasm").exists()


def test_without_componentize_py_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(python, "toolchain_version", lambda: None)
    app = tmp_path / "app.py"
    app.write_text("")
    with pytest.raises(GuestBuildError, match=r"^building Python guests needs componentize-py: pip install"):
        python.build(app)


@pytest.mark.parametrize("name", ["wit_world", "poll_loop", "my-app"])
def test_a_module_name_that_would_shadow_the_bindings_is_refused(tmp_path: Path, name: str) -> None:
    app = tmp_path / f"{name}.py"
    app.write_text("")
    with pytest.raises(GuestBuildError, match="module name must be an identifier other than"):
        python.build(app)
