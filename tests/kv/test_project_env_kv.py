"""`env` and `kv` in a function's table: accepted shapes, and one problem per bad entry naming the
file, the table and the key (a bad project file exits 2 before the control plane hears anything)."""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

import pytest

from edgehost.project import ProjectError, load_project
from tests.procs import run_cli
from tests.project_files import ONE_FUNCTION, WHERE, hello_folder, problems_of

HEAD = ONE_FUNCTION


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return hello_folder(tmp_path)


def problems(folder: Path, extra: str) -> list[str]:
    return problems_of(folder, HEAD + extra)


def test_env_and_kv_are_read_sorted_and_deduplicated(folder: Path) -> None:
    (folder / "edgefn.toml").write_text(
        HEAD + 'env = { REGION = "tokyo", GREETING = "hi = there", _X1 = "" }\n'
        'kv = ["default", "a-1", "default"]\n'
    )
    (function,) = load_project(folder).functions
    assert function.env == {"GREETING": "hi = there", "REGION": "tokyo", "_X1": ""}
    assert function.kv == ("default", "a-1")
    (folder / "edgefn.toml").write_text(HEAD)
    assert load_project(folder).functions[0].env == {} and load_project(folder).functions[0].kv == ()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            'kv = ["Default"]',
            "kv[1] must be a store name of 1 to 63 characters of a-z, 0-9 and '-', got \"Default\"",
        ),
        ('kv = ["ok", ""]', "kv[2] must be a store name of 1 to 63 characters of a-z, 0-9 and '-', got \"\""),
        (
            f'kv = ["{"a" * 64}"]',
            f"kv[1] must be a store name of 1 to 63 characters of a-z, 0-9 and '-', got \"{'a' * 64}\"",
        ),
        ('kv = "default"', 'kv must be an array of strings, got "default"'),
        ("kv = [1]", "kv[1] must be a string, got 1"),
        (
            'env = { lower = "x" }',
            "env key \"lower\" must be upper-case letters, digits and '_', not starting with a digit",
        ),
        (
            'env = { 1A = "x" }',
            "env key \"1A\" must be upper-case letters, digits and '_', not starting with a digit",
        ),
        ("env = { A = 1 }", "env.A must be a string, got 1"),
        ('env = { A = "x\\u0000y" }', "env.A must not contain a NUL character"),
        ('env = ["A=1"]', 'env must be a table of strings like env = { NAME = "value" }, got an array'),
        (f'env = {{ A = "{"x" * 32769}" }}', "env.A must be at most 32768 characters, got 32769"),
    ],
)
def test_a_bad_entry_is_one_problem_naming_file_table_and_key(
    folder: Path, extra: str, expected: str
) -> None:
    assert problems(folder, extra + "\n") == [f"{WHERE}: {expected}"]


def test_too_many_variables(folder: Path) -> None:
    env = ", ".join(f'V{i} = "x"' for i in range(257))
    assert problems(folder, f"env = {{ {env} }}\n") == [
        f"{WHERE}: env must have at most 256 variables, got 257"
    ]


def test_store_and_variable_names_follow_their_rules_property(folder: Path) -> None:
    """Seeded random names: accepted exactly when the documented pattern matches."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_.é "
    for _ in range(150):
        name = "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 5, 63, 64])))
        store_ok = re.fullmatch(r"[a-z0-9-]{1,63}", name) is not None
        env_ok = re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) is not None
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        (folder / "edgefn.toml").write_text(HEAD + f'kv = ["{quoted}"]\nenv = {{ "{quoted}" = "v" }}\n')
        try:
            load_project(folder)
            found = []
        except ProjectError as exc:
            found = exc.problems
        assert any("kv[1]" in p for p in found) != store_ok, name
        assert any("env key" in p for p in found) != env_ok, name


def test_a_bad_project_file_exits_2_before_any_request(folder: Path) -> None:
    (folder / "edgefn.toml").write_text(HEAD + 'kv = ["Bad_Store"]\nenv = { lower = "x" }\n')
    result = run_cli("deploy", "--project", str(folder), "--api", "http://127.0.0.1:9", "--token", "t")
    assert result.returncode == 2, result.stderr
    assert f"{WHERE}: kv[1] must be a store name" in result.stderr
    assert f'{WHERE}: env key "lower"' in result.stderr
