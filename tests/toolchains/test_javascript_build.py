"""JavaScript guests built by componentize-js: a wasi:http component from a module, one line
naming the reason (and the line of a syntax error) when it does not build."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgehost.guestbuild import GuestBuildError, guest_sources, load_guest_bytes
from edgehost.toolchains import javascript
from tests.components import ECHO_JS, js_component

pytestmark = pytest.mark.toolchains


def test_the_echo_guest_builds_into_a_wasi_http_component(echo_js_component: Path) -> None:
    data = echo_js_component.read_bytes()
    assert data[:8] == b"\0asm\x0d\x00\x01\x00"
    assert b"wasi:http/incoming-handler@0.2.3" in data
    assert js_component(ECHO_JS) == echo_js_component  # once per session


def test_sources_are_the_folders_modules_and_the_wit_world(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "dep").mkdir(parents=True)
    for name in ("app.js", "lib.mjs", "util.js", "node_modules/dep/index.js", "README.md"):
        (tmp_path / name).write_text("")
    found = guest_sources(tmp_path / "app.js")
    assert found[:3] == [tmp_path / "app.js", tmp_path / "lib.mjs", tmp_path / "util.js"]
    assert all(p.suffix == ".wit" for p in found[3:]) and javascript.WIT_DIR / "world.wit" in found


# A syntax error: tests/cli/test_component_templates.py, through `edgefn build`.
BAD_GUESTS = {
    "import": (  # loaded while componentize-js initialises the module
        'import { x } from "./missing.js";\n'
        'addEventListener("fetch", (e) => e.respondWith(new Response(x)));\n',
        'ReferenceError: Error loading module "./missing.js" (resolved path "missing.js"): '
        "No such file or directory",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_GUESTS))
def test_a_guest_that_does_not_build_gives_one_line_naming_the_reason(tmp_path: Path, case: str) -> None:
    source, reason = BAD_GUESTS[case]
    app = tmp_path / "app.js"
    app.write_text(source)
    with pytest.raises(GuestBuildError) as info:
        load_guest_bytes(app)
    assert str(info.value) == f"building {app} with componentize-js failed: {reason.format(app=app)}"
    assert not (tmp_path / "app.wasm").exists()


def test_without_node_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(javascript, "_node_bin", lambda: None)
    app = tmp_path / "app.js"
    app.write_text("")
    with pytest.raises(GuestBuildError, match=r"^building JavaScript guests needs Node.js: pip install"):
        javascript.build(app)


def test_an_install_that_fails_says_why_in_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No registry (here: an address nothing listens on, an empty npm cache): the error names the
    step and the need, and no half-installed toolchain is left to be used by the next build."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    app = tmp_path / "app.js"
    app.write_text("")
    with pytest.raises(GuestBuildError) as info:
        javascript.build(app)
    message = str(info.value)
    assert message.startswith(
        "installing componentize-js 0.19.3 with npm (a machine's first JavaScript build needs the npm "
        "registry) failed: "
    )
    assert "\n" not in message and "complete log" not in message
    assert list((tmp_path / "cache" / "edgefn").iterdir()) == []
