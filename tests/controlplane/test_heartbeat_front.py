"""`POST /v1/node/heartbeat` answered in front of Litestar (`heartbeat_front`): the same answers as the
Litestar route, in the same order (body read and decoded, then the credential)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.middleware import DefineMiddleware

from edgehost.app import build_app
from edgehost.context import AppContext
from edgehost.controlplane.heartbeat_front import HeartbeatFront
from edgehost.hookspecs import hookimpl
from edgehost.plugin_manager import make_plugin_manager
from edgehost.protocol import Heartbeat, HeartbeatReply
from edgehost.settings import load_settings
from tests.controlplane.harness import ControlPlane, NodeClient, bearer
from tests.rawhttp import exchange, one_response

PATH = "/v1/node/heartbeat"


@pytest.fixture
def node(cp: ControlPlane) -> Iterator[NodeClient]:
    client = cp.node_client("node-a", labels={"region": "front"})
    yield client
    client.close()


def post(node: NodeClient, body: bytes, *, token: bool = True, path: str = PATH) -> tuple[int, Any]:
    headers = bearer(node.token()) if token else {}
    response = node.http.post(path, content=body, headers=headers)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


def beat_of(node_id: str) -> bytes:
    return msgspec.json.encode(Heartbeat(node_id=node_id))


def beat(node: NodeClient, **fields: Any) -> bytes:
    return msgspec.json.encode(Heartbeat(node_id=node.node_id, labels=node.labels, **fields))


def test_the_front_answers_like_the_litestar_route(node: NodeClient) -> None:
    """A trailing slash is not the front's path: Litestar answers it, from the same services."""
    front, litestar = post(node, beat(node)), post(node, beat(node), path=PATH + "/")
    assert front[0] == litestar[0] == 200
    assert front[1] == litestar[1]
    assert msgspec.convert(front[1], HeartbeatReply).heartbeat_interval_s == 1.0


@pytest.mark.parametrize("url", ["http://10.0.0.9:8080", "ftp://10.0.0.9"])
def test_the_front_and_the_route_treat_advertised_urls_alike(node: NodeClient, url: str) -> None:
    body = beat(node, public_url=url, metrics_url="http://10.0.0.9:9090")
    front, litestar = post(node, body), post(node, body, path=PATH + "/")
    assert front == litestar
    assert front[0] == (200 if url.startswith("http:") else 400)


def test_a_body_streamed_in_chunks_is_read_whole(node: NodeClient) -> None:
    body = beat(node)
    chunks = iter([body[:7], body[7:]])
    response = node.http.post(PATH, content=chunks, headers=bearer(node.token()))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "token", "status", "error"),
    [
        pytest.param(b"{nope", False, 400, "bad_request", id="malformed JSON, before the credential"),
        pytest.param(b'{"node_id": "node-\xff"}', True, 400, "bad_request", id="invalid UTF-8"),
        pytest.param(b"{}", False, 400, "bad_request", id="fields are checked before the credential"),
        pytest.param(beat_of("node-a"), False, 401, "unauthorized", id="no credential"),
        pytest.param(b"{}", True, 400, "bad_request", id="a missing field"),
        pytest.param(b"", True, 400, "bad_request", id="an empty body"),
        pytest.param(b'{"node_id": 5}', True, 400, "bad_request", id="a field of the wrong type"),
        pytest.param(
            b'{"node_id": "node-a", "cpu_percent": "12.5"}', True, 400, "bad_request", id="a string number"
        ),
        pytest.param(
            b'{"node_id": "node-a", "node_id": "node-a"}', True, 400, "bad_request", id="a repeated key"
        ),
        pytest.param(b'{"node_id": "node-b"}', True, 403, "forbidden", id="another node's heartbeat"),
    ],
)
@pytest.mark.parametrize("path", [PATH, PATH + "/"], ids=["front", "litestar"])
def test_refusals_are_the_same_json_on_both_paths(
    node: NodeClient, body: bytes, token: bool, status: int, error: str, path: str
) -> None:
    answered, payload = post(node, body, token=token, path=path)
    assert (answered, payload["error"]) == (status, error)
    assert payload["detail"] and "Traceback" not in str(payload)
    assert payload == post(node, body, token=token, path=PATH + "/" if path == PATH else PATH)[1]


def test_validation_errors_name_the_field_as_litestar_did(node: NodeClient) -> None:
    status, payload = post(node, b'{"node_id": "node-a", "functions": [{"function_id": "f"}]}')
    assert status == 400
    assert payload["detail"] == [
        {"message": "Object missing required field `version`", "key": "functions[0]", "source": "body"}
    ]
    assert post(node, b"{}")[1]["detail"] == [
        {"message": "Object missing required field `node_id`", "key": "data", "source": "body"}
    ]


def test_an_integral_number_is_an_integer(node: NodeClient) -> None:
    body = b'{"node_id": "node-a", "labels": {"region": "front"}, "mem_bytes": 1048576.0, "cpu_percent": 12}'
    assert post(node, body)[0] == post(node, body, path=PATH + "/")[0] == 200


def test_an_oversized_body_is_413(node: NodeClient) -> None:
    status, payload = post(node, b'{"node_id": "' + b"a" * 10_000_001 + b'"}')
    assert (status, payload) == (413, {"error": "payload_too_large", "detail": "Request Entity Too Large"})


def test_a_body_that_did_not_arrive_whole_is_400_never_read_as_the_part_that_came(
    cp: ControlPlane, node: NodeClient
) -> None:
    """A whole heartbeat in the first chunk, then a malformed chunk-size line: the part that came
    must not be taken for the body (it parses, and would be answered 200)."""
    body = beat(node)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {node.token()}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\nzz\r\n{}\r\n0\r\n\r\n"
    answer = one_response(exchange(cp.node_port, head.encode() + chunked, tls=node.tls))
    assert answer.status == 400
    assert answer.json() == {"error": "bad_request", "detail": "the request body did not arrive whole"}


def test_other_methods_still_reach_litestar(node: NodeClient) -> None:
    response = node.http.get(PATH, headers=bearer(node.token()))
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


class Stamp:
    """A plugin wrapping the node role in middleware, which must then see heartbeats too."""

    @hookimpl
    def edgehost_middleware(self, role: str, ctx: AppContext) -> list[Any]:
        async def passthrough(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("never called here")

        return [DefineMiddleware(lambda app: passthrough)] if role == "node" else []


def test_the_front_stands_aside_when_a_plugin_adds_middleware() -> None:
    def context(*plugins: object) -> AppContext:
        pm = make_plugin_manager(entry_points=False)
        for plugin in plugins:
            pm.register(plugin)
        return AppContext(settings=load_settings("dev"), pm=pm, mode="control-plane")

    assert isinstance(build_app("node", context()).fast_path, HeartbeatFront)
    assert build_app("node", context(Stamp())).fast_path is None
    assert build_app("metrics", context()).fast_path is None  # no heartbeat route there
