"""Plain data passed across the runtime boundary."""

from __future__ import annotations

from dataclasses import dataclass

from edgehost.limits import FunctionLimits


class FunctionSpec(FunctionLimits, frozen=True):
    """One function version as the runtime runs it: identity, entrypoint, and its limits, which are
    keyword arguments and, like every registration's, have no defaults for memory and time."""

    function_id: str
    version: int
    entrypoint: str = "handle"
    project: str = ""  # whose hot memory budget its instances count against


@dataclass(frozen=True)
class ModuleReport:
    """What registration learned of a guest (a core module or a component): its initial memory in
    pages, the imports linked to `capability_denied` stubs, and its import and export names."""

    initial_pages: int
    denied_wasi_imports: tuple[str, ...]
    imports: tuple[str, ...]
    exports: tuple[str, ...]


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
