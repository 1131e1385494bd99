"""The KV host functions, `env` and `edgefn kv` against a real `edgefn dev` (SQLite backend).

The guest (tests/guests/kv.wat) answers a host call's negative code as status 400 - code, so
401 is "absent", 402 "malformed", 405 "too large", 406 "store not granted", 407 "quota full".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.procs import REPO, DevServer, dev_server, run_cli, serving, wait_until, write_project

GUESTS = REPO / "tests" / "guests"
MAX_VALUE = 64
QUOTA = 400
PROJECT = """
project = "shop"

[[functions]]
name = "carts"
wasm = "kv.wat"
memory_pages = 64
kv = ["default", "carts"]

[[functions]]
name = "other"
wasm = "kv.wat"
memory_pages = 64
kv = ["default"]

[[functions]]
name = "env"
wasm = "wasi.wat"
entrypoint = "environ"
env = { GREETING = "hi there", REGION = "tokyo" }

[[routes]]
path = "/kv/*"
function = "carts"

[[routes]]
path = "/k2/*"
function = "other"

[[routes]]
path = "/env"
function = "env"

[[deployments]]
function = "carts"

[[deployments]]
function = "other"

[[deployments]]
function = "env"
"""
SMALL_VALUES = {"EDGEFN_KV__MAX_VALUE_BYTES": str(MAX_VALUE)}
SMALL_QUOTA = {**SMALL_VALUES, "EDGEFN_KV__MAX_PROJECT_BYTES": str(QUOTA)}


def make_project(root: Path) -> Path:
    project = write_project(root, PROJECT)
    for name in ("kv.wat", "wasi.wat"):
        shutil.copy(GUESTS / name, project / name)
    return project


def kv(project: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = run_cli("kv", *args, cwd=project, input=input, env={"EDGEFN_TOKEN": "", "EDGEFN_API": ""})
    return result.returncode, result.stdout, result.stderr


def test_guests_share_a_projects_stores_within_their_grants(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    with dev_server(project, tmp_path / "logs", SMALL_VALUES) as dev:
        ingress = dev.ingress
        assert httpx.put(f"{ingress}/kv/default/a", content=b"one").status_code == 200
        assert httpx.get(f"{ingress}/kv/default/a").content == b"one"
        # Another function of the project naming the store sees the same value.
        assert httpx.get(f"{ingress}/k2/default/a").content == b"one"
        assert httpx.put(f"{ingress}/k2/default/a", content=b"two").status_code == 200
        assert httpx.get(f"{ingress}/kv/default/a").content == b"two"
        # A store the function's `kv` does not name: -6, for reads, writes and deletes alike.
        assert httpx.put(f"{ingress}/kv/carts/x", content=b"c").status_code == 200
        assert httpx.get(f"{ingress}/k2/carts/x").status_code == 406
        assert httpx.put(f"{ingress}/k2/carts/x", content=b"z").status_code == 406
        assert httpx.delete(f"{ingress}/k2/carts/x").status_code == 406
        assert httpx.get(f"{ingress}/kv/carts/x").content == b"c"
        assert httpx.get(f"{ingress}/kv/nope/a").status_code == 406
        # Stores are separate namespaces.
        assert httpx.get(f"{ingress}/kv/carts/a").status_code == 401
        # Absent, deleted, deleted again (no error), malformed.
        assert httpx.get(f"{ingress}/kv/default/missing").status_code == 401
        assert httpx.delete(f"{ingress}/kv/default/a").status_code == 200
        assert httpx.get(f"{ingress}/kv/default/a").status_code == 401
        assert httpx.delete(f"{ingress}/kv/default/a").status_code == 200
        assert httpx.get(f"{ingress}/kv/default").status_code == 402
        # Limits: value over kv.max_value_bytes, key over 512 bytes; nothing is stored.
        assert httpx.put(f"{ingress}/kv/default/big", content=b"v" * (MAX_VALUE + 1)).status_code == 405
        assert httpx.get(f"{ingress}/kv/default/big").status_code == 401
        assert httpx.put(f"{ingress}/kv/default/big", content=b"v" * MAX_VALUE).status_code == 200
        long_key = "k" * 513
        assert httpx.put(f"{ingress}/kv/default/{long_key}", content=b"v").status_code == 405
        assert httpx.get(f"{ingress}/kv/default/{long_key}").status_code == 401
        assert httpx.put(f"{ingress}/kv/default/{'k' * 512}", content=b"v").status_code == 200


def test_the_project_quota_refuses_growth_and_keeps_what_was_stored(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    with dev_server(project, tmp_path / "logs", SMALL_QUOTA) as dev:
        statuses = [
            httpx.put(f"{dev.ingress}/kv/default/k{i}", content=b"x" * MAX_VALUE).status_code
            for i in range(8)
        ]
        # Each entry takes 2 + 64 bytes: six fit in 400, the seventh does not.
        assert statuses == [200] * 6 + [407] * 2
        assert httpx.get(f"{dev.ingress}/kv/default/k6").status_code == 401
        assert httpx.get(f"{dev.ingress}/kv/default/k5").content == b"x" * MAX_VALUE
        # Overwriting with a value no larger needs no room; deleting makes room.
        assert httpx.put(f"{dev.ingress}/kv/default/k0", content=b"y").status_code == 200
        assert httpx.put(f"{dev.ingress}/kv/default/k6", content=b"x" * MAX_VALUE).status_code == 200
        code, _, err = kv(project, "put", "default", "k7", input="x" * MAX_VALUE)
        assert code == 1 and "507" in err and "kv.max_project_bytes" in err


def test_edgefn_kv_reads_and_writes_what_guests_see_and_values_survive_a_restart(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    with dev_server(project, tmp_path / "logs") as dev:
        assert kv(project, "put", "default", "greeting", input="hello\nworld")[0] == 0
        assert httpx.get(f"{dev.ingress}/kv/default/greeting").text == "hello\nworld"
        assert httpx.put(f"{dev.ingress}/kv/default/user:1", content=b"ann").status_code == 200
        assert httpx.put(f"{dev.ingress}/kv/default/user:2", content=b"bob").status_code == 200
        assert kv(project, "get", "default", "user:2")[:2] == (0, "bob")
        assert kv(project, "list", "default")[:2] == (0, "greeting\nuser:1\nuser:2\n")
        assert kv(project, "list", "default", "--prefix", "user:")[:2] == (0, "user:1\nuser:2\n")
        assert kv(project, "delete", "default", "user:1")[0] == 0
        assert httpx.get(f"{dev.ingress}/kv/default/user:1").status_code == 401
        code, out, err = kv(project, "get", "default", "user:1")
        assert (code, out) == (1, "") and "has no key 'user:1'" in err
        # Bad input: a store name outside the rule, an oversized value; nothing changes.
        code, _, err = kv(project, "put", "Bad_Store", "k", input="v")
        assert code == 1 and "store" in err
        code, _, err = kv(project, "put", "default", "greeting", input="v" * (1 << 20 + 1))
        assert code == 1 and "kv.max_value_bytes" in err
        assert kv(project, "get", "default", "greeting")[1] == "hello\nworld"
        # Another project's store is not this one's.
        code, _, err = kv(project, "get", "default", "greeting", "--project", "elsewhere")
        assert code == 1 and "404" in err
    with serving(DevServer(project, tmp_path / "logs2")) as dev:
        assert httpx.get(f"{dev.ingress}/kv/default/greeting").text == "hello\nworld"
        assert kv(project, "get", "default", "user:2")[1] == "bob"


def test_env_is_the_guests_environment(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    with dev_server(project, tmp_path / "logs") as dev:
        assert httpx.get(f"{dev.ingress}/env").content == b"GREETING=hi there\0REGION=tokyo\0"
        # A changed variable reaches the guest with the next deployment (edgefn dev redeploys on save).
        text = (project / "edgefn.toml").read_text().replace('REGION = "tokyo"', 'REGION = "osaka"')
        (project / "edgefn.toml").write_text(text)
        wait_until(
            lambda: httpx.get(f"{dev.ingress}/env").content == b"GREETING=hi there\0REGION=osaka\0",
            timeout=30,
            what="the new environment",
        )


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"EDGEFN_KV__BACKEND": "memcached"}, "kv.backend"),
        ({"EDGEFN_KV__MAX_VALUE_BYTES": "0"}, "kv.max_value_bytes"),
        ({"EDGEFN_KV__MAX_PROJECT_BYTES": "lots"}, "kv.max_project_bytes"),
        ({"EDGEFN_KV__TIMEOUT_S": "0"}, "kv.timeout_s"),
    ],
)
def test_a_bad_kv_setting_exits_2_naming_the_key(tmp_path: Path, env: dict[str, str], key: str) -> None:
    project = make_project(tmp_path / "shop")
    result = run_cli("dev", "--project", str(project), env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert key in result.stderr and "Traceback" not in result.stderr
