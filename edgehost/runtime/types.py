"""Plain data passed across the runtime boundary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    function_id: str
    version: int
    entrypoint: str = "handle"
    memory_pages: int = 16
    max_execution_ms: int = 50
    http_allow: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    kv: tuple[str, ...] = ()  # the project's KV stores the function may use (edgehost/kv)


@dataclass(slots=True)
class LogLine:
    level: int
    message: str
    source: str  # "log" | "stdout" | "stderr"


@dataclass(slots=True)
class GuestRequest:
    method: str
    uri: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class GuestResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    logs: list[LogLine]
    cpu_seconds: float
