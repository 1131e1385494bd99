"""The OpenAPI document is a contract the API keeps: what it declares is what a real `edgefn dev` answers.

The deterministic tests pin each decision (error shape, declared statuses, unknown fields, numbers,
duplicate keys, 405 with `Allow`); schemathesis, a client nobody here wrote, then fuzzes every
operation with all its checks on (`schemathesis.toml` at the top of the repository). Seed and number of
examples can be changed with EDGEFN_FUZZ_SEED and EDGEFN_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from edgehost.cli.templates import HELLO_WAT
from edgehost.errors import ErrorResponse, FieldError
from edgehost.security.node_token import sign_node_token
from tests.procs import REPO, DevServer, dev_server, write_project

ST = str(Path(sys.executable).with_name("st"))
CONFIG = REPO / "schemathesis.toml"
SEED = os.environ.get("EDGEFN_FUZZ_SEED", "777")
EXAMPLES = os.environ.get("EDGEFN_FUZZ_EXAMPLES", "50")
# The project the config's dictionaries name: project `fuzz`, function `hello` v1 deployed.
PROJECT_TOML = """project = "fuzz"
[[functions]]
name = "hello"
wasm = "hello.wat"
[[routes]]
path = "/hello"
function = "hello"
[[deployments]]
function = "hello"
"""
REGISTRATION = {"name": "fn", "entrypoint": "handle", "memory_pages": 16, "max_execution_ms": 50}
# A valid body for each operation that takes one, by operation id.
BODIES: dict[str, dict[str, Any]] = {
    "add_member": {"subject": "someone", "role": "viewer"},
    "create_function": REGISTRATION,
    "replace_routes": {"routes": [{"path": "/hello", "function": "hello"}]},
    "deploy": {"function": "hello", "selector": "true"},
    "rollback": {"to_version": 1},
    "rollout": {"shares": [{"version": 1, "percent": 100}]},
    "heartbeat": {"node_id": "dev"},
    "report": {"node_id": "dev", "function_id": "fuzz.hello", "version": 1, "state": "cached"},
    "tail_records": {"records": []},
}
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "TRACE")


def start_dev(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[DevServer]:
    project = write_project(tmp_path / "fuzz", PROJECT_TOML, {"hello.wat": HELLO_WAT})
    with dev_server(project, tmp_path / "logs", env) as server:
        stored = httpx.put(
            f"{server.api}/v1/projects/fuzz/kv/default/value",
            params={"key": "greeting"},
            content=b"hi",
            headers={"authorization": f"Bearer {server.token}"},
        )
        assert stored.status_code == 200, stored.text
        secret = httpx.put(
            f"{server.api}/v1/projects/fuzz/functions/hello/secrets/API_TOKEN",
            content=b"hunter2",
            headers={"authorization": f"Bearer {server.token}"},
        )
        assert secret.status_code == 200, secret.text
        yield server


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    yield from start_dev(tmp_path_factory.mktemp("contract"))


@pytest.fixture(scope="module")
def document(dev: DevServer) -> dict[str, Any]:
    return dict(httpx.get(f"{dev.api}/schema/openapi.json", timeout=10).json())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def node_token(dev: DevServer, node_id: str = "dev") -> str:
    """A token of `edgefn dev`'s own node, signed with the certificate its CA issued."""
    ca = dev.state_dir / "ca"
    cert, key = (ca / f"{node_id}.pem").read_bytes(), (ca / f"{node_id}.key").read_bytes()
    return sign_node_token(node_id=node_id, cert_pem=cert, key_pem=key)


def client(dev: DevServer) -> httpx.Client:
    return httpx.Client(base_url=dev.api, headers={"authorization": f"Bearer {dev.token}"}, timeout=30)


def error_of(response: httpx.Response) -> ErrorResponse:
    """The body as the published ErrorResponse, strictly: no other shape passes."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text
    return msgspec.json.decode(response.content, type=ErrorResponse, strict=True)


def test_one_error_schema_is_published_and_is_the_one_the_server_renders(document: dict[str, Any]) -> None:
    published = document["components"]["schemas"]["ErrorResponse"]
    _, generated = msgspec.json.schema_components([ErrorResponse], ref_template="#/components/schemas/{name}")
    assert published == generated["ErrorResponse"]
    assert document["components"]["schemas"]["FieldError"] == generated["FieldError"]


def test_every_reference_resolves_to_a_component(document: dict[str, Any]) -> None:
    """Body schemas come from msgspec under the names Litestar's operations refer to."""
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs and refs <= set(document["components"]["schemas"]), refs - set(
        document["components"]["schemas"]
    )


def test_every_error_response_of_every_operation_is_the_error_schema(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        for status in errors:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
        implied = {500}
        if operation.get("parameters") or operation.get("requestBody"):
            implied.add(400)
        if operation.get("requestBody"):
            implied.add(413)
        if operation.get("security"):
            implied |= {401, 403}
        assert implied <= errors, (method, path, sorted(errors))


def test_handlers_declare_the_refusals_of_their_own_code(document: dict[str, Any]) -> None:
    declared = {
        operation["operationId"]: {int(s) for s in operation["responses"]} & {404, 409, 413, 422}
        for _, _, operation in operations(document)
    }
    assert declared["create_function"] == {413, 422}
    assert declared["finalize"] == {404, 409, 413, 422}
    assert declared["deploy"] == {404, 409, 413, 422}
    assert declared["replace_routes"] == {409, 413, 422}
    assert declared["rollback"] == {404, 409, 413}
    assert declared["rollout"] == {404, 409, 413, 422}
    assert declared["get_version"] == {404}
    assert declared["list_projects"] == set()
    assert declared["kv_put"] == {404, 413, 422}
    assert declared["kv_get"] == declared["kv_delete"] == {404, 422}
    assert declared["kv_keys"] == {404}
    assert declared["set_secret"] == {413, 422}
    assert declared["list_secrets"] == declared["delete_secret"] == {404}


def test_the_secret_value_is_the_raw_request_body(document: dict[str, Any]) -> None:
    (operation,) = [op for _, _, op in operations(document) if op["operationId"] == "set_secret"]
    assert operation["requestBody"] == {
        "required": True,
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }


def test_operations_are_named_tagged_and_summarised_for_a_generated_client(document: dict[str, Any]) -> None:
    tags = {tag["name"] for tag in document["tags"]}
    ids = []
    for path, method, operation in operations(document):
        assert re.fullmatch(r"[a-z][a-z_]*", operation["operationId"]), (method, path)
        assert operation["summary"] and operation["tags"][0] in tags, (method, path)
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
    assert {"create_function", "finalize", "deploy", "rollback", "heartbeat", "healthz"} <= set(ids)
    schemes = document["components"]["securitySchemes"]
    assert schemes["developer"] == {
        "type": "http",
        "description": schemes["developer"]["description"],
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    developer_ops = [
        op for path, _, op in operations(document) if not path.startswith(("/v1/node", "/health"))
    ]
    assert all(op["security"] == [{"developer": []}] for op in developer_ops)


def test_request_bodies_refuse_fields_they_do_not_list_and_the_schemas_say_so(
    dev: DevServer, document: dict[str, Any]
) -> None:
    components = document["components"]["schemas"]
    with client(dev) as http:
        for path, method, operation in operations(document):
            if "requestBody" not in operation or path.startswith("/v1/node/"):
                continue
            if "application/json" not in operation["requestBody"]["content"]:  # a raw value (set_secret)
                continue
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert components[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, ref
            url = path.format(project="fuzz", name="hello", version=1)
            body = {**BODIES[operation["operationId"]], "colour": "blue"}
            response = http.request(method, url, json=body)
            assert response.status_code == 400, (method, path, response.text)
            detail = error_of(response).detail
            assert isinstance(detail, list) and "colour" in detail[0].message, detail
    for name in ("RouteIn", "DeploymentIn", "FunctionCreate", "MemberIn", "RollbackIn", "RoutesPut"):
        assert components[name]["additionalProperties"] is False, name


def test_an_integer_is_a_json_number_never_a_string(dev: DevServer, document: dict[str, Any]) -> None:
    """The decision: `"16"` is refused (400) as `type: integer` says; `16.0` is an integer in JSON
    Schema and is taken as 16."""
    pages = document["components"]["schemas"]["FunctionCreate"]["properties"]["memory_pages"]
    assert pages["type"] == "integer"
    with client(dev) as http:
        refused = http.post("/v1/projects/numbers/functions", json={**REGISTRATION, "memory_pages": "16"})
        assert refused.status_code == 400, refused.text
        assert error_of(refused).detail == [
            FieldError(message="Expected `int`, got `str`", key="memory_pages", source="body")
        ]
        fractional = http.post("/v1/projects/numbers/functions", json={**REGISTRATION, "memory_pages": 16.5})
        assert fractional.status_code == 400, fractional.text
        accepted = http.post("/v1/projects/numbers/functions", json={**REGISTRATION, "memory_pages": 16.0})
        assert accepted.status_code == 201, accepted.text
        version = http.get(f"/v1/projects/numbers/functions/fn/versions/{accepted.json()['version']}")
        assert version.json()["memory_pages"] == 16


def test_a_key_repeated_in_an_object_is_refused(dev: DevServer, document: dict[str, Any]) -> None:
    """The decision: RFC 8259 section 4 leaves duplicate names to the receiver; this one refuses them."""
    assert "RFC 8259" in document["info"]["description"]
    body = json.dumps(REGISTRATION)[:-1] + ', "name": "other"}'
    nested = '{"routes": [{"path": "/a", "path": "/b", "function": "hello"}]}'
    with client(dev) as http:
        for method, url, content in (
            ("POST", "/v1/projects/dupes/functions", body),
            ("PUT", "/v1/projects/fuzz/routes", nested),
        ):
            response = http.request(
                method, url, content=content, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, response.text
            detail = error_of(response).detail
            assert isinstance(detail, list) and "more than once" in detail[0].message, detail
        assert http.get("/v1/projects/dupes/functions").status_code == 404  # nothing was created
        assert http.get("/v1/projects/fuzz/routes").json()["routes"][0]["path"] == "/hello"


@pytest.mark.parametrize(
    ("request_", "status", "error"),
    [
        pytest.param(("GET", "/v1/projects", None, False), 401, "unauthorized", id="no token"),
        pytest.param(("GET", "/v1/projects/nope/functions", None, True), 404, "not_found", id="no project"),
        pytest.param(("GET", "/v1/nowhere", None, True), 404, "not_found", id="no route"),
        pytest.param(("GET", "/v1/projects/Bad_Name/routes", None, True), 400, "bad_request", id="bad path"),
        pytest.param(("GET", "/v1/node/watch?revision=x", None, "node"), 400, "bad_request", id="bad query"),
        pytest.param(("POST", "/v1/projects/p/functions", b"{nope", True), 400, "bad_request", id="not JSON"),
        pytest.param(("POST", "/v1/projects/p/functions", b"", True), 400, "bad_request", id="no body"),
        pytest.param(
            ("POST", "/v1/node/tail", b'{"records": [{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}]}", False),
            400,
            "bad_request",
            id="nested too deeply",
        ),
        pytest.param(
            ("POST", "/v1/projects/p/functions", b'{"x": "' + b"a" * 10_000_001 + b'"}', True),
            413,
            "payload_too_large",
            id="body too large",
        ),
        pytest.param(
            (
                "POST",
                "/v1/projects/p/functions",
                {**REGISTRATION, "min_hot_instances": 9, "max_hot_instances": 2},
                True,
            ),
            422,
            "invalid_limits",
            id="contradicting limits",
        ),
        pytest.param(
            ("POST", "/v1/projects/fuzz/deployments", {"function": "hello", "selector": "region =="}, True),
            422,
            "bad_selector",
            id="selector",
        ),
        pytest.param(
            ("POST", "/v1/projects/fuzz/functions/hello/rollback", {"to_version": 1}, True),
            409,
            "already_active",
            id="conflict",
        ),
        pytest.param(
            (
                "POST",
                "/v1/projects/fuzz/functions/hello/rollout",
                {"shares": [{"version": 1, "percent": 90}]},
                True,
            ),
            422,
            "invalid_shares",
            id="rollout shares",
        ),
        pytest.param(("DELETE", "/v1/projects", None, True), 405, "method_not_allowed", id="method"),
    ],
)
def test_every_kind_of_error_is_answered_in_the_error_schema(
    dev: DevServer, request_: tuple[str, str, Any, bool | str], status: int, error: str
) -> None:
    method, url, body, credential = request_
    headers = {}
    if credential:
        headers["authorization"] = f"Bearer {node_token(dev) if credential == 'node' else dev.token}"
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"content": body}
    response = httpx.request(method, dev.api + url, headers=headers, timeout=60, **kwargs)
    assert response.status_code == status, response.text
    assert error_of(response).error == error
    assert "unhandled error" not in dev.stderr


def test_every_path_answers_methods_it_lacks_405_with_allow(dev: DevServer, document: dict[str, Any]) -> None:
    """RFC 9110 section 15.5.6 for every documented path, the heartbeat front's included; OPTIONS
    lists the same methods."""
    with client(dev) as http:
        for path, item in document["paths"].items():
            names = {
                "project": "fuzz",
                "name": "hello",
                "version": 1,
                "node_id": "no-such-node",
                "store": "default",
                "secret": "API_TOKEN",
            }
            url = path.format(**names)
            documented = {method.upper() for method in item} | {"OPTIONS"}
            for method in sorted(set(METHODS) - documented):
                response = http.request(method, url)
                assert response.status_code == 405, (method, path, response.status_code)
                assert set(response.headers["allow"].split(", ")) == documented, (method, path)
                assert error_of(response).error == "method_not_allowed"
            options = http.options(url)
            assert options.status_code == 204 and set(options.headers["allow"].split(", ")) == documented, (
                path
            )


def schemathesis(
    dev: DevServer, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, set[int]]]:
    """One `st run` against `dev` with every check, a fixed seed and a bounded number of examples;
    its result and the statuses each request line (`METHOD /path`) was answered."""
    har = dev.state_dir / f"fuzz-{len(list(dev.state_dir.glob('fuzz-*')))}.har"
    result = subprocess.run(
        [
            ST,
            "--config-file",
            str(CONFIG),
            "run",
            f"{dev.api}/schema/openapi.json",
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            EXAMPLES,
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--report",
            "har",
            "--report-har-path",
            str(har),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=dev.state_dir,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    answered: dict[str, set[int]] = {}
    for entry in json.loads(har.read_text())["log"]["entries"] if har.exists() else ():
        line = f"{entry['request']['method']} {httpx.URL(entry['request']['url']).path}"
        answered.setdefault(line, set()).add(entry["response"]["status"])
    return result, answered


def fuzz_report(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-8000:] + result.stderr[-2000:]


def reached(answered: dict[str, set[int]], document: dict[str, Any], prefix: str) -> set[str]:
    """The operations under `prefix` that answered something only their own code answers (a success,
    a conflict, a 422), not only refusals of the request's shape, credential, path or method."""
    patterns = {
        f"{method} {path}": re.compile(f"{method} " + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
        for path, method, _ in operations(document)
        if path.startswith(prefix)
    }
    return {
        name
        for name, pattern in patterns.items()
        for line, statuses in answered.items()
        if pattern.match(line) and statuses - {400, 401, 403, 404, 405}
    }


@pytest.mark.timeout(300)
def test_schemathesis_finds_the_developer_operations_keeping_the_contract(
    dev: DevServer, document: dict[str, Any]
) -> None:
    """All of `/v1` but the node protocol and the live tail, an NDJSON stream that never ends by design
    (its refusals come from the same renderer as its siblings')."""
    result, answered = schemathesis(
        dev,
        "--header",
        f"Authorization: Bearer {dev.token}",
        "--exclude-path-regex",
        r"^/v1/node/|/tail$",
    )
    assert result.returncode == 0, fuzz_report(result)
    developer = {f"{m} {p}" for p, m, _ in operations(document) if p.startswith("/v1/") and "/node/" not in p}
    assert reached(answered, document, "/v1/") == developer - {"GET /v1/projects/{project}/tail"}
    assert "unhandled error" not in dev.stderr


@pytest.mark.timeout(300)
def test_schemathesis_finds_the_node_operations_keeping_the_contract(
    dev: DevServer, document: dict[str, Any]
) -> None:
    """`/v1/node/*` with a fresh token per case from the node certificate of the dev CA."""
    env = {
        "SCHEMATHESIS_HOOKS": "tests.controlplane.fuzz_node_auth",
        "EDGEFN_FUZZ_NODE_DIR": str(dev.state_dir / "ca"),
    }
    result, answered = schemathesis(dev, "--include-path-regex", r"^/v1/node/", env=env)
    assert result.returncode == 0, fuzz_report(result)
    node = {f"{m} {p}" for p, m, _ in operations(document) if p.startswith("/v1/node/")}
    assert reached(answered, document, "/v1/node/") == node
    assert "unhandled error" not in dev.stderr


@pytest.mark.timeout(300)
def test_schemathesis_fails_when_an_error_body_breaks_the_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The fuzz test can fail: a plugin answers errors in Litestar's default shape, schemathesis says so."""
    env = {"EDGEFN_PLUGINS": json.dumps(["tests.controlplane.broken_errors_plugin"]), "PYTHONPATH": str(REPO)}
    for broken in start_dev(tmp_path_factory.mktemp("broken"), env):
        result, _ = schemathesis(
            broken,
            "--header",
            f"Authorization: Bearer {broken.token}",
            "--include-path-regex",
            r"^/v1/projects/\{project\}/routes$",
            "--phases",
            "fuzzing",
            "--max-failures",
            "1",
        )
        assert result.returncode == 1, fuzz_report(result)
        assert "Response violates schema" in result.stdout, fuzz_report(result)
