"""A third-party plugin whose request-path calls fail on chosen paths (tests/runner/test_plugin_faults.py).

Loaded like any plugin, with EDGEFN_PLUGINS='["tests.runner.faulty_plugin"]'.
"""

from __future__ import annotations

from edgehost.contracts import Invocation, Rejection
from edgehost.hookspecs import hookimpl


@hookimpl
def edgehost_admit(invocation: Invocation) -> Rejection | None:
    if invocation.path == "/admit-raises":
        raise RuntimeError("admit exploded")
    if invocation.path == "/admit-answers-101":
        return Rejection(101, "switching", "a rejection must be a final status")
    return None


@hookimpl
def edgehost_invocation_started(invocation: Invocation) -> None:
    if invocation.path == "/started-raises":
        raise RuntimeError("started exploded")


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    if invocation.path == "/finished-raises":
        raise RuntimeError("finished exploded")
    if invocation.path == "/bad-header":
        invocation.response_headers.append(("x-plugin", "a\r\nx-injected: 1"))
        invocation.response_headers.append(("x-plugin-ok", "fine"))
