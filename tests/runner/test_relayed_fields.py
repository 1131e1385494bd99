"""A deployment's relayed response fields are built once per fields list (`RelayedFields`), and
every answer still gets its own list: its request id and framing, never another answer's."""

from __future__ import annotations

import pytest

from edgehost.runner import response_fields
from edgehost.runner.ingress import Ingress
from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse

from .test_ingress_bytes import call, serve


class SameFields:
    """Answers with one fields list object, as a function's FieldsMemo does, until told otherwise."""

    spec = FunctionSpec(function_id="t.f", version=1, memory_pages=16, max_execution_ms=50)

    def __init__(self) -> None:
        self.fields = [("content-type", "text/plain"), ("connection", "close"), ("x-a", "1")]

    def invoke(self, request: GuestRequest | bytes, *, request_id: str) -> GuestResponse:
        return GuestResponse(200, self.fields, b"ok", [], 0.0)


def answer_fields(sent: list[dict[str, object]]) -> list[tuple[bytes, bytes]]:
    start = sent[0]
    assert start["type"] == "http.response.start"
    fields = start["headers"]
    assert isinstance(fields, list)
    return fields


async def test_each_answer_has_its_own_fields_built_once_per_list(
    ingress: Ingress, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    relayed = response_fields.relayed_fields
    monkeypatch.setattr(
        response_fields, "relayed_fields", lambda fields: built.append(fields) or relayed(fields)
    )
    serve(ingress, "/f")
    pool = SameFields()
    object.__setattr__(ingress.node.snapshot.functions["t.f"], "pool", pool)  # a frozen LiveFunction
    answers = [answer_fields(await call(ingress, b"/f")) for _ in range(3)]
    for fields in answers:
        names = [name for name, _ in fields]
        assert names == [b"content-type", b"x-a", b"x-request-id", b"content-length"]  # connection dropped
    assert len({dict(fields)[b"x-request-id"] for fields in answers}) == 3  # each answer its own id
    assert built == [pool.fields]  # one build for three answers
    pool.fields = [("content-type", "application/json"), ("x-b", "2")]  # a new list: built anew
    fields = answer_fields(await call(ingress, b"/f"))
    assert fields[:2] == [(b"content-type", b"application/json"), (b"x-b", b"2")]
    assert len(built) == 2
