"""`edgefn dev` serving a Python or JavaScript source as docs/guests.md writes it (`wasm =
"functions/hello/app.py"`, `hello.js`): the project `edgefn init --template` makes is built on
start and answers 200 from its first request, and a saved edit is served from the moment the dev
says it serves the new version.

The components come from tests/components.py's cache, put beside the source as `edgefn build`
would: the dev finds them fresh and spends no build (the template's, shared with the other
template tests, and one edited version per language, cached across runs). The edit is written
so the dev never sees the new source without its component (tests/toolchains tests the builds).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgehost.cli.templates import TEMPLATES
from tests.components import component, prebuild
from tests.procs import dev_server, get, run_cli, wait_until

pytestmark = [pytest.mark.toolchains, pytest.mark.timeout(600)]

EDITED = "Hello, edited!"


def save_edit(source: Path, text: str, scratch: Path) -> None:
    """Saves `text` as `source`, its component already beside it: the component of the same text
    (built in `scratch`, a folder of the source's name) is copied first, then the source is
    renamed into place with an older modification time, so it is never newer than its component."""
    draft = scratch / source.parent.name / source.name
    draft.parent.mkdir(parents=True)
    draft.write_text(text)
    shutil.copyfile(component(draft), source.with_suffix(".wasm"))
    built = source.with_suffix(".wasm").stat().st_mtime_ns
    os.utime(draft, ns=(built - 1_000_000_000, built - 1_000_000_000))
    os.replace(draft, source)


@pytest.mark.parametrize(("template", "file"), [("python", "app.py"), ("js", "hello.js")])
def test_a_template_source_is_served_and_an_edit_is_served_after_reload(
    tmp_path: Path, template: str, file: str
) -> None:
    assert run_cli("init", "proj", "--template", template, cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    source = project / "functions/hello" / file
    assert f'wasm = "functions/hello/{file}"' in (project / "edgefn.toml").read_text()
    prebuild(source)
    with dev_server(project, tmp_path / "logs") as dev:
        first = get(f"{dev.ingress}/hello")  # the first request of a fresh instance
        assert (first.status_code, first.text) == (200, "Hello from edgefn!\n"), first.text
        save_edit(source, TEMPLATES[template].text.replace("Hello from edgefn!", EDITED), tmp_path / "edit")
        # The dev says when the new version answers; from then on no request meets the old one.
        wait_until(lambda: "serving hello v2" in dev.stderr, timeout=60, what="the reload")
        edited = get(f"{dev.ingress}/hello")
        assert (edited.status_code, edited.text) == (200, f"{EDITED}\n"), dev.stderr
        assert "error" not in dev.stderr.lower()
