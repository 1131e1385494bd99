"""Secrets against a real `edgefn dev`: set through `edgefn secret` (standard input only), in the
guest's environment after the next deployment, refused when one is missing, and never readable
anywhere else: no CLI output, API answer, metric, log line, tail record or file on disk in clear.

The guest is tests/guests/wasi.wat's `environ` export, which answers its WASI environ.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.procs import REPO, DevServer, dev_server, run_cli, serving, wait_until, write_project

PROJECT = """
project = "vault"

[[functions]]
name = "env"
wasm = "wasi.wat"
entrypoint = "environ"
env = { REGION = "tokyo" }

[[routes]]
path = "/env"
function = "env"

[[deployments]]
function = "env"
"""
NAMED = 'env = { REGION = "tokyo" }\nsecrets = ["API_TOKEN"]'


def cli(project: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    """`edgefn ARGS` in the project folder: it finds the dev server's API and token by itself."""
    result = run_cli(*args, cwd=project, input=input, env={"EDGEFN_TOKEN": "", "EDGEFN_API": ""})
    return result.returncode, result.stdout, result.stderr


def name_secrets(project: Path, line: str) -> None:
    text = (project / "edgefn.toml").read_text()
    (project / "edgefn.toml").write_text(text.replace('env = { REGION = "tokyo" }', line))


@contextlib.contextmanager
def tailing(dev: DevServer) -> Iterator[list[str]]:
    """The project's tail, read on a thread into the yielded list until the block ends."""
    lines: list[str] = []
    stop = threading.Event()

    def read() -> None:
        headers = {"authorization": f"Bearer {dev.token}"}
        with httpx.stream("GET", f"{dev.api}/v1/projects/vault/tail", headers=headers, timeout=60) as r:
            for line in r.iter_lines():
                lines.append(line)
                if stop.is_set():
                    return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield lines
    finally:
        stop.set()


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_secret_reaches_the_guest_on_the_next_deployment_and_nowhere_else(tmp_path: Path) -> None:
    project = write_project(tmp_path / "vault", PROJECT)
    shutil.copy(REPO / "tests" / "guests" / "wasi.wat", project / "wasi.wat")
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    outputs: list[str] = []
    with dev_server(project, tmp_path / "logs") as dev:
        assert httpx.get(f"{dev.ingress}/env").content == b"REGION=tokyo\0"
        # Set before the function names it; `echo`'s final line break is not part of the value.
        code, out, err = cli(project, "secret", "set", "env", "API_TOKEN", input=first + "\n")
        assert code == 0, err
        outputs += [out, err]
        name_secrets(project, NAMED)  # edgefn dev redeploys on save
        wait_until(
            lambda: httpx.get(f"{dev.ingress}/env").content == f"API_TOKEN={first}\0REGION=tokyo\0".encode(),
            timeout=30,
            what="the secret in the environ",
        )
        with tailing(dev) as tail:
            wait_until(lambda: httpx.get(f"{dev.ingress}/env") and tail, timeout=30, what="a tail record")

        # A secret set again takes effect on the next deployment, not under the running one.
        code, out, err = cli(project, "secret", "set", "env", "API_TOKEN", input=second)
        assert code == 0, err
        outputs += [out, err]
        assert first in httpx.get(f"{dev.ingress}/env").text
        code, out, err = cli(project, "deploy")
        assert code == 0, err
        outputs += [out, err]
        assert "deployed env" in out or "env v" in out, out
        assert httpx.get(f"{dev.ingress}/env").content == f"API_TOKEN={second}\0REGION=tokyo\0".encode()
        code, out, err = cli(project, "deploy")  # nothing changed since: nothing is made again
        assert (code, out.strip().splitlines()[-1]) == (0, "vault: nothing changed"), out + err

        code, out, err = cli(project, "secret", "list", "env")
        assert code == 0 and out.startswith("API_TOKEN\t20"), out + err
        outputs += [out, err]
        for args in (("status",), ("status", "--json")):
            code, out, err = cli(project, *args)
            assert code == 0, err
            outputs += [out, err]
        headers = {"authorization": f"Bearer {dev.token}"}
        answers = [
            httpx.get(f"{dev.api}{path}", headers=headers).text
            for path in (
                "/v1/projects/vault/functions",
                "/v1/projects/vault/deployments",
                "/v1/projects/vault/functions/env/secrets",
                "/v1/status",
                "/schema/openapi.json",
            )
        ]
        listed = json.loads(answers[2])["secrets"]
        assert [item["name"] for item in listed] == ["API_TOKEN"]
        versions = json.loads(answers[0])["functions"][0]["versions"]
        assert versions[-1]["secrets"] == ["API_TOKEN"]  # names are no secret
        metrics = httpx.get(f"{dev.metrics}/metrics").text
        assert "edgefn_" in metrics

        # Deleted: deployments made keep their copy; the next one is refused, naming the secret,
        # and nothing changes.
        code, out, err = cli(project, "secret", "delete", "env", "API_TOKEN")
        assert code == 0, err
        assert cli(project, "secret", "list", "env")[1] == ""
        code, out, err = cli(project, "deploy")
        assert code == 1 and "API_TOKEN" in err and "not set" in err, out + err
        outputs += [out, err]
        assert second in httpx.get(f"{dev.ingress}/env").text

        state = dev.state_dir
        assert "v1." in (state / "runner" / "desired.json").read_text()  # sealed, not left out
        for key in (state / "secrets.key", state / "runner" / "node-secrets.key"):
            assert stat.S_IMODE(os.stat(key).st_mode) == 0o600, key
    dev_log = dev.stdout + dev.stderr
    assert "deploy" in dev_log
    for value in (first, second):
        for text in (*outputs, *answers, metrics, dev_log, *tail):
            assert value not in text
        assert files_holding(project, value.encode()) == []
        assert files_holding(tmp_path / "logs", value.encode()) == []
    assert tail and all("vault" in line for line in tail if line)


def test_a_deployment_naming_a_secret_that_is_not_set_is_refused_naming_it(tmp_path: Path) -> None:
    project = write_project(tmp_path / "vault", PROJECT)
    shutil.copy(REPO / "tests" / "guests" / "wasi.wat", project / "wasi.wat")
    with dev_server(project, tmp_path / "logs") as dev:
        assert cli(project, "secret", "set", "env", "API_TOKEN", input="x")[0] == 0
        name_secrets(project, 'secrets = ["API_TOKEN", "DB_PASSWORD"]')
        code, out, err = cli(project, "deploy")
        assert code == 1, out + err
        assert "DB_PASSWORD" in err and "API_TOKEN" not in err.split("not set:")[1], err
        # Nothing changed: the version deployed before keeps serving, without secrets.
        assert httpx.get(f"{dev.ingress}/env").content == b"REGION=tokyo\0"
        # Bad input: a name outside the rule (2, before any request), an empty value, a secret
        # that is not set; nothing changes.
        code, _, err = cli(project, "secret", "set", "env", "db-password", input="y")
        assert code == 2 and "upper-case letters" in err, err
        code, _, err = cli(project, "secret", "set", "env", "DB_PASSWORD", input="\n")
        assert code == 1 and "must not be empty" in err, err
        code, _, err = cli(project, "secret", "delete", "env", "DB_PASSWORD")
        assert code == 1 and "has no secret 'DB_PASSWORD'" in err, err
        assert cli(project, "secret", "list", "env")[1].startswith("API_TOKEN\t")
        assert cli(project, "secret", "set", "env", "DB_PASSWORD", input="y")[0] == 0
        assert cli(project, "deploy")[0] == 0
        assert httpx.get(f"{dev.ingress}/env").content == b"API_TOKEN=x\0DB_PASSWORD=y\0"
    # A restarted `edgefn dev` serves them again: the CP keeps them (sealed) across restarts.
    with serving(DevServer(project, tmp_path / "logs2")) as dev:
        assert httpx.get(f"{dev.ingress}/env").content == b"API_TOKEN=x\0DB_PASSWORD=y\0"
