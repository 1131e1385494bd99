"""The denied imports an upload reports stay one short line however many there are."""

from __future__ import annotations

from edgehost.cli.plan_view import render_step
from edgehost.project import plan as steps

# What componentize-py 0.25 components import and a runner links to capability_denied stubs.
PYTHON_COMPONENT = (
    "wasi:filesystem/types@0.2.9",
    "wasi:sockets/network@0.2.9",
    "wasi:sockets/instance-network@0.2.9",
    "wasi:sockets/udp@0.2.9",
    "wasi:sockets/udp-create-socket@0.2.9",
    "wasi:sockets/tcp@0.2.9",
    "wasi:sockets/tcp-create-socket@0.2.9",
    "wasi:sockets/ip-name-lookup@0.2.9",
)


def _line(denied: tuple[str, ...]) -> str:
    return render_step(steps.FunctionUploaded("py", 1, "ab" * 32, denied), "edgefn.toml")


def test_a_python_components_denied_interfaces_are_counted_per_package() -> None:
    assert _line(PYTHON_COMPONENT) == (
        "+ py v1 sha256:abababababab (imports 8 denied WASI calls: wasi:filesystem/types, 7 of wasi:sockets)"
    )


def test_a_few_denied_calls_are_named_as_they_are() -> None:
    few = ("wasi_snapshot_preview1.path_open", "wasi:cli/stdout@0.2.0#get-stdout")
    assert _line(few).endswith(
        "(imports denied WASI calls: wasi_snapshot_preview1.path_open, wasi:cli/stdout@0.2.0#get-stdout)"
    )


def test_many_denied_core_calls_and_functions_are_grouped_too() -> None:
    many = tuple(
        f"wasi_snapshot_preview1.{name}"
        for name in ("path_open", "sock_accept", "fd_readdir", "path_unlink_file")
    )
    many += ("wasi:cli/environment@0.2.0#get-arguments",)
    assert _line(many).endswith(
        "(imports 5 denied WASI calls: 4 of wasi_snapshot_preview1, wasi:cli/environment#get-arguments)"
    )
