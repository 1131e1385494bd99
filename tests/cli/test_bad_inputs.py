"""Bad input of every kind ends with the right exit status and a reason, never a traceback.

Every command that could talk to a control plane points at a port where nothing listens: an exit
status of 2 (not 1, "cannot reach") proves the problem was caught before anything was sent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edgehost.cli.templates import HELLO_WAT
from tests.procs import run_cli, write_project
from tests.services import free_port

GOOD = """
project = "demo"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[routes]]
path = "/hello"
function = "hello"

[[deployments]]
function = "hello"
"""

# (case, edgefn.toml, guest source, words the one message per problem must hold)
BAD_PROJECTS = [
    ("malformed", 'project = "demo"\n[[functions]\n', HELLO_WAT, ["edgefn.toml", "invalid TOML", "line 2"]),
    ("missing wasm", GOOD.replace("hello.wat", "gone.wat"), HELLO_WAT, ["[[functions]] #1", "gone.wat"]),
    (
        "unknown function",
        GOOD.replace('function = "hello"\n\n[[deployments]]', 'function = "hallo"\n\n[[deployments]]'),
        HELLO_WAT,
        ["[[routes]] #1", 'function "hallo" is not defined'],
    ),
    (
        "bad selector",
        GOOD + 'selector = "region =="\n',
        HELLO_WAT,
        ["[[deployments]] #1", "selector"],
    ),
    (
        "unknown key",
        GOOD.replace('wasm = "hello.wat"', 'wasm = "hello.wat"\nmemory_page = 4'),
        HELLO_WAT,
        ["[[functions]] #1", '"memory_page"', 'did you mean "memory_pages"'],
    ),
    (
        "out of range",
        GOOD.replace('wasm = "hello.wat"', 'wasm = "hello.wat"\nmemory_pages = 0'),
        HELLO_WAT,
        ["memory_pages"],
    ),
    ("broken guest", GOOD, "(module (func", ["hello.wat", "not valid WAT"]),
]


@pytest.mark.parametrize(
    ("toml", "guest", "words"), [c[1:] for c in BAD_PROJECTS], ids=[c[0] for c in BAD_PROJECTS]
)
def test_a_bad_project_exits_2_and_sends_nothing(
    tmp_path: Path, toml: str, guest: str, words: list[str]
) -> None:
    project = write_project(tmp_path, toml, {"hello.wat": guest})
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = run_cli("deploy", "--api", nowhere, "--token", "t", cwd=project)
    assert result.returncode == 2, result.stderr
    assert "cannot reach" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_every_problem_of_a_file_is_reported_once(tmp_path: Path) -> None:
    toml = GOOD.replace('path = "/hello"', 'path = "hello"\nmethod = ["GET"]') + 'selector = "x =="\n'
    project = write_project(tmp_path, toml, {"hello.wat": HELLO_WAT})
    result = run_cli("deploy", "--api", f"http://127.0.0.1:{free_port()}", "--token", "t", cwd=project)
    assert result.returncode == 2
    problems = [
        line for line in result.stderr.splitlines() if line.startswith(("error: edgefn.toml", "edgefn.toml"))
    ]
    assert len(problems) == 3, result.stderr
    assert any('did you mean "methods"' in p for p in problems)


def _cases(tmp: Path) -> list[tuple[list[str], int]]:
    """(arguments, expected exit status); run in `tmp`, which holds a good project and a dev-less state."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    return [
        (["nosuch"], 2),
        (["deploy", "--bogus"], 2),
        (["deploy", "--project", "missing/edgefn.toml", "--token", "t"], 2),
        (["deploy", "--api", "http://127.0.0.1:99999", "--token", "t"], 2),
        (["deploy", "--api", "not a url", "--token", "t"], 2),
        (["deploy", "--api", nowhere], 2),  # no token at all
        (["deploy", "--api", nowhere, "--token", "t"], 1),
        (["status", "--api", nowhere, "--token", "t"], 1),
        (["status", "--api", "http://[::1", "--token", "t"], 2),
        (["rollback", "hello", "--to", "0", "--token", "t"], 2),
        (["rollback", "hello", "--to", "x", "--token", "t"], 2),
        (["rollback", "hello", "--token", "t"], 2),
        (["rollback", "hello", "--to", "1", "--api", nowhere, "--token", "t"], 1),
        (["dev", "--ingress-port", "0"], 2),
        (["dev", "--api-port", "70000"], 2),
        (["dev", "--project", "missing"], 2),
        (["dev", "--runners", "2", "--ingress-port", "65534"], 2),  # runner 2 would need 65536
        (["dev", "--runners", "17"], 2),
        (["build", "--output", "x.wasm"], 2),  # --output needs a SOURCE
        (["token"], 2),
        (["token", "--subject", "x", "--ttl", "-5", "--state-dir", "."], 2),
        (["token", "--subject", "x", "--state-dir", "empty"], 2),
        (["token", "--subject", "x", "--config", "missing.toml"], 2),
        (["token", "--subject", "x", "--config", "bad.toml"], 2),
        (["token", "--subject", "x", "--state-dir", ".", "--config", "bad.toml"], 2),
        (["ca", "issue", "n1", "--dir", "empty"], 2),
        (["ca", "issue", "../evil", "--dir", "pki"], 2),
        (["ca", "init", "--dir", "pki"], 2),
        (["ca", "init"], 2),
        (["build", "missing.wat"], 2),
        (["build", "broken.wat"], 2),
        (["build", "edgefn.toml"], 2),
        (["init", "."], 2),  # an edgefn.toml is already here
        (["init", "x", "--template", "rust"], 2),
        (["serve", "--mode", "sideways"], 2),
        (["serve", "--mode", "control-plane", "--config", "bad.toml"], 2),
        (["migrate", "--config", "bad.toml"], 2),
        (["plugins", "--config", "bad.toml"], 2),
    ]


def test_many_bad_inputs_exit_with_a_reason_and_no_traceback(tmp_path: Path) -> None:
    write_project(tmp_path, GOOD, {"hello.wat": HELLO_WAT, "broken.wat": "(module (func"})
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.toml").write_text("[quotas]\nper_minute = -3\n")
    assert run_cli("ca", "init", "--dir", "pki", cwd=tmp_path).returncode == 0
    cases = _cases(tmp_path)
    with ThreadPoolExecutor(8) as pool:  # independent processes; in parallel only to keep the suite fast
        results = list(pool.map(lambda case: run_cli(*case[0], cwd=tmp_path), cases))
    failures = []
    for (args, status), result in zip(cases, results, strict=True):
        output = result.stdout + result.stderr
        if result.returncode != status or "Traceback" in output or not result.stderr.strip():
            failures.append(
                f"edgefn {' '.join(args)} -> {result.returncode} (want {status}):\n{output[-600:]}"
            )
    assert not failures, "\n\n".join(failures)
