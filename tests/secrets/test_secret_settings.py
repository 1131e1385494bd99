"""The project file's `secrets` and the control plane's `secrets.*` settings: bad input exits 2 with
one line naming the file, table and key (or the setting)."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import msgspec
import pytest

from edgehost.controlplane.schemas import FunctionCreate
from edgehost.errors import ApiError
from edgehost.project import load_project
from edgehost.secrets_crypto import new_key
from edgehost.settings import SettingsError, load_settings
from tests.procs import run_cli
from tests.project_files import ONE_FUNCTION, WHERE, hello_folder, problems_of

HEAD = ONE_FUNCTION


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return hello_folder(tmp_path)


def problems(folder: Path, extra: str) -> list[str]:
    return problems_of(folder, HEAD + extra)


def test_secret_names_are_read_deduplicated(folder: Path) -> None:
    (folder / "edgefn.toml").write_text(
        HEAD + 'secrets = ["API_TOKEN", "_DB1", "API_TOKEN"]\nenv = { A = "b" }\n'
    )
    assert load_project(folder).functions[0].secrets == ("API_TOKEN", "_DB1")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            'secrets = ["api_token"]',
            "secrets[1] \"api_token\" must be upper-case letters, digits and '_', not starting with a digit",
        ),
        (
            'secrets = ["OK", "1X"]',
            "secrets[2] \"1X\" must be upper-case letters, digits and '_', not starting with a digit",
        ),
        (
            'secrets = ["A-B"]',
            "secrets[1] \"A-B\" must be upper-case letters, digits and '_', not starting with a digit",
        ),
        (
            'env = { TOKEN = "x" }\nsecrets = ["TOKEN"]',
            'secrets[1] "TOKEN" is also a key of env: a name is one or the other',
        ),
        ('secrets = "TOKEN"', 'secrets must be an array of strings, got "TOKEN"'),
        ("secrets = [1]", "secrets[1] must be a string, got 1"),
        (
            "secrets = [" + ", ".join(f'"S{i}"' for i in range(65)) + "]",
            "secrets must name at most 64 secrets, got 65",
        ),
    ],
)
def test_a_bad_secrets_entry_is_one_problem_naming_it(folder: Path, extra: str, expected: str) -> None:
    assert problems(folder, extra) == [f"{WHERE}: {expected}"]


def test_deploy_exits_2_on_a_name_in_env_and_secrets_before_any_request(folder: Path) -> None:
    (folder / "edgefn.toml").write_text(HEAD + 'env = { TOKEN = "x" }\nsecrets = ["TOKEN", "lower"]\n')
    result = run_cli("deploy", "--project", str(folder), "--token", "t", "--api", "http://127.0.0.1:9")
    assert result.returncode == 2, result.stderr
    assert f'{WHERE}: secrets[1] "TOKEN" is also a key of env' in result.stderr
    assert f'{WHERE}: secrets[2] "lower" must be' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("short", "secrets.key must be base64 text of 32 random bytes"),
        (base64.b64encode(b"k" * 31).decode(), "secrets.key must be base64 of 32 bytes, got 31 bytes"),
    ],
)
def test_a_bad_secret_key_names_the_setting(monkeypatch: pytest.MonkeyPatch, key: str, message: str) -> None:
    monkeypatch.setenv("EDGEFN_SECRETS__KEY", key)
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}"):
        load_settings("control-plane")
    monkeypatch.setenv("EDGEFN_SECRETS__KEY", new_key())
    assert load_settings("control-plane").secrets.key


def test_a_bad_key_file_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "k").write_text("not a key")
    monkeypatch.setenv("EDGEFN_SECRETS__KEY_FILE", str(tmp_path / "k"))
    with pytest.raises(SettingsError, match=r"^secrets\.key_file must be base64"):
        load_settings("control-plane")


def test_serve_exits_2_on_a_bad_secret_key_with_one_line() -> None:
    result = run_cli("serve", "--mode", "control-plane", env={"EDGEFN_SECRETS__KEY": "abc"})
    assert result.returncode == 2, result.stderr
    assert "secrets.key must be base64" in result.stderr and "Traceback" not in result.stderr
    assert "abc" not in result.stderr.replace("secrets.key", "")  # the key itself is not echoed


def test_the_cp_creates_its_key_file_0600_in_its_state_dir(tmp_path: Path) -> None:
    from edgehost.startup import secret_key

    settings = load_settings("control-plane", overrides={"state_dir": str(tmp_path)})
    key = secret_key(settings)
    assert stat.S_IMODE((tmp_path / "secrets.key").stat().st_mode) == 0o600
    assert secret_key(settings) == key


def test_the_api_refuses_a_name_in_env_and_secrets_as_the_project_file_does() -> None:
    body = {"name": "hello", "entrypoint": "handle", "memory_pages": 1, "max_execution_ms": 50}
    ok = msgspec.json.decode(
        msgspec.json.encode({**body, "secrets": ["B"], "env": {"A": "x"}}), type=FunctionCreate
    )
    assert ok.secrets == ("B",)
    with pytest.raises(ApiError) as caught:
        msgspec.json.decode(
            msgspec.json.encode({**body, "secrets": ["A"], "env": {"A": "x"}}), type=FunctionCreate
        )
    assert (caught.value.status, caught.value.detail) == (422, "A named in both env and secrets")
