"""The project's docs stand alone: every relative link resolves to a file of the repository, and
no build machine's absolute path, no file outside the repository is cited as a reference."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from edgehost.context import AppContext
from edgehost.plugin_manager import make_plugin_manager
from edgehost.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted([REPO / "README.md", REPO / "functions" / "README.md", *(REPO / "docs").glob("*.md")])
SOURCES = {".md", ".wat", ".c", ".h", ".py", ".toml", ".sh"}


def files(*folders: str) -> list[Path]:
    """The text files under `folders` (this file excepted: it holds the very strings it looks for)."""
    return [
        path
        for folder in folders
        for path in (REPO / folder).rglob("*")
        if path.is_file() and path.suffix in SOURCES and path != Path(__file__).resolve()
    ]


# What a user reads or copies: no path of a build machine at all.
READ = sorted({*PAGES, *files("functions")})
# Everything else too: no document outside the repository cited (a /tmp default is fine in code).
ALL = sorted({*READ, *files("edgehost", "plugins", "tests", "config", "scripts", "bench")})
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|root|home|Users)/\w|\.\./shared\b")
OUTSIDE = re.compile(r"(?<![\w.~-])/work/\w|\.\./shared\b")
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])([\w.-]+\.md)\b")
REPO_MARKDOWN = {p.name for p in REPO.rglob("*.md") if ".venv" not in p.parts}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    found = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists() or root not in (path, *path.parents):
            found.append(target)
    return found


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_relative_link_resolves_to_a_file_of_the_repo(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("path", READ, ids=rel)
def test_no_machine_path_in_what_users_read(path: Path) -> None:
    assert [line for line in path.read_text().splitlines() if MACHINE_PATH.search(line)] == []


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_no_document_outside_the_repo_is_cited(path: Path) -> None:
    lines = path.read_text().splitlines()
    outside = [
        line for line in lines if OUTSIDE.search(line) or set(MARKDOWN_NAME.findall(line)) - REPO_MARKDOWN
    ]
    assert outside == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[a](missing.md) [b](https://example.com) [c](#here) [d](page.md#x)")
    assert broken_links(page, tmp_path) == ["missing.md"]
    found = MACHINE_PATH.findall("see /work/shared/ABI.md, ../shared/x, /tmp/a and /root/b; not a/tmp/c")
    assert len(found) == 4
    assert len(OUTSIDE.findall("see /work/shared/ABI.md and ../shared/x; /tmp/a is a default")) == 2
    assert MARKDOWN_NAME.findall("see `INTERFACES.md` and docs/cli.md") == ["INTERFACES.md"]


def setting_defaults(struct: type, prefix: str = "") -> dict[str, object]:
    """Every key of the settings (dotted) and its built-in default, from `edgehost/settings.py` and
    the tables the built-in plugins declare."""
    keys: dict[str, object] = {}
    if struct is Settings:
        pm = make_plugin_manager(entry_points=False)
        for table, section in AppContext(settings=Settings(), pm=pm, mode="dev").settings.sections.items():
            keys |= setting_defaults(type(section), f"{table}.")
    for field in msgspec.structs.fields(struct):
        if struct is Settings and field.name == "sections":
            continue
        default = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
        if isinstance(default, msgspec.Struct):
            keys |= setting_defaults(type(default), f"{prefix}{field.name}.")
        else:
            keys[prefix + field.name] = default
    return keys


def test_the_settings_page_names_every_key_with_its_default() -> None:
    rows = dict(
        re.findall(r"^\| `([\w.]+)` \| `([^`]*)` \|", (REPO / "docs" / "settings.md").read_text(), re.M)
    )
    expected = {key: toml_value(value) for key, value in setting_defaults(Settings).items()}
    assert rows == expected


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_the_sdk_signatures_in_functions_readme_are_the_headers() -> None:
    """Each signature listed in functions/README.md is a public function of sdk/edgefn.h, as declared."""
    readme = (REPO / "functions" / "README.md").read_text()
    listed = re.search(r"Signatures .*?```c\n(.*?)```", readme, re.S)
    assert listed is not None
    header = " ".join((REPO / "functions" / "sdk" / "edgefn.h").read_text().split())
    declared = {
        m.group(2): m.group(1)
        for m in re.finditer(r"EDGEFN_API ([^;{]*?\b(edgefn_[a-z_]+)\([^)]*\))", header)
    }
    signatures = [
        line.rstrip(";") for line in listed.group(1).splitlines() if line and not line.startswith("/*")
    ]
    assert len(signatures) >= 18
    for signature in signatures:
        name = signature.split("(", 1)[0].split()[-1].lstrip("*")
        assert declared.get(name) == signature, (name, declared.get(name))
