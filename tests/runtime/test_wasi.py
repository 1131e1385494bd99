from __future__ import annotations

import pytest

from edgehost.runtime import GuestRequest, InvokeError

from .conftest import compile_guest


def test_stdout_and_stderr_captured_into_logs(request_: GuestRequest) -> None:
    response = compile_guest("wasi", entrypoint="stdout").instantiate().invoke(request_, request_id="r")
    assert response.status == 200
    assert [(line.source, line.message) for line in response.logs] == [
        ("stdout", "hello"),
        ("stdout", "world"),
        ("stderr", "oops"),
    ]


def test_environ_comes_from_spec(request_: GuestRequest) -> None:
    compiled = compile_guest("wasi", entrypoint="environ", env=(("A", "1"), ("REGION", "tokyo")))
    response = compiled.instantiate().invoke(request_, request_id="r")
    assert response.body == b"A=1\0REGION=tokyo\0"


@pytest.mark.parametrize("name", ["path_open", "sock_accept"])
def test_denied_wasi_call_is_capability_denied(name: str, request_: GuestRequest) -> None:
    instance = compile_guest("wasi", entrypoint=name).instantiate()
    with pytest.raises(InvokeError) as info:
        instance.invoke(request_, request_id="r")
    assert info.value.code == "capability_denied"
    assert f"wasi_snapshot_preview1.{name}, which is not allowed" in info.value.message
    assert instance.broken
