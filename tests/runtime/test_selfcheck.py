"""The start-up self-check: the fast call path must agree with wasmtime-py's `Func.__call__`.

Agreement is checked with the installed wasmtime and a real module; the refusal by breaking the
fast path (monkeypatched), which a changed wasmtime-py would do for real.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgehost.cli.errors import USAGE
from edgehost.cli.main import cli
from edgehost.runtime import fastcall, selfcheck
from edgehost.runtime.selfcheck import FastPathMismatch, check_fast_path


def test_the_installed_wasmtime_agrees_with_the_fast_path() -> None:
    check_fast_path()


def _results_left_as_arguments(self: fastcall.RawFunc) -> None:
    """A fast path that runs nothing: `vals` keep the arguments, as with a changed value layout."""


def test_a_wrong_result_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastcall.RawFunc, "call", _results_left_as_arguments)
    with pytest.raises(FastPathMismatch, match=r"disagrees .* on mix\("):
        check_fast_path()


def test_a_missed_trap_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fastcall.RawFunc.call

    def no_traps(self: fastcall.RawFunc) -> None:
        with contextlib.suppress(fastcall.InvokeError):
            real(self)

    monkeypatch.setattr(fastcall.RawFunc, "call", no_traps)
    with pytest.raises(FastPathMismatch, match="on a trap"):
        check_fast_path()


def test_a_failing_private_name_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(*_: object) -> int:
        raise AttributeError("'Store' object has no attribute '_context'")

    monkeypatch.setattr(selfcheck, "context_address", gone)
    with pytest.raises(FastPathMismatch, match=r"fails with wasmtime .*AttributeError"):
        check_fast_path()


@pytest.mark.parametrize("command", [["serve", "--mode", "runner"], ["dev"]])
def test_a_runner_refuses_to_start_on_a_mismatch(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fastcall.RawFunc, "call", _results_left_as_arguments)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    env = {
        "EDGEFN_RUNNER__WORKERS": "1",  # more re-execute the command (supervisor.ensure_multiprocess_metrics)
        "EDGEFN_RUNNER__NODE_ID": "n1",
        "EDGEFN_RUNNER__CONTROL_PLANE_URL": "https://cp.invalid:8443",
        "EDGEFN_TLS__CERT_FILE": "node.pem",
        "EDGEFN_TLS__KEY_FILE": "node.key",
    }
    result = runner.invoke(cli, command, env=env)
    assert result.exit_code == USAGE, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: the fast call path disagrees with wasmtime"), result.stderr
    assert "Traceback" not in result.stderr
