"""What applying a project did, step by step, as typed values: the CLI renders them, tests and tools
read them (`edgefn deploy`, `edgefn dev`, the benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FunctionKept:
    """A ready version with the same bytes and settings exists: nothing uploaded."""

    name: str
    version: int


@dataclass(frozen=True)
class FunctionUploaded:
    """A new version registered, uploaded and finalized."""

    name: str
    version: int
    sha256: str
    denied_imports: tuple[str, ...] = ()  # WASI calls the module imports and the runner refuses


@dataclass(frozen=True)
class RoutesKept:
    count: int


@dataclass(frozen=True)
class RouteChanged:
    """One route the replacement added (`added`) or removed."""

    added: bool
    host: str
    path: str
    function: str


@dataclass(frozen=True)
class DeploymentKept:
    function: str
    version: int
    selector: str


@dataclass(frozen=True)
class DeploymentMade:
    function: str
    version: int
    selector: str
    nodes: tuple[str, ...]  # the online nodes the selector matched
    undoes_rollback_to: int | None = None  # the older version a rollback had deployed, now replaced


@dataclass(frozen=True)
class FunctionDropped:
    """Deployed but no longer in the project file: undeployed (with prune) or left alone."""

    name: str
    undeployed: bool


Step = (
    FunctionKept
    | FunctionUploaded
    | RoutesKept
    | RouteChanged
    | DeploymentKept
    | DeploymentMade
    | FunctionDropped
)


@dataclass
class Plan:
    """The steps in the order they were taken: functions, routes, deployments, what the file dropped."""

    steps: list[Step] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            isinstance(step, FunctionUploaded | RouteChanged | DeploymentMade)
            or (isinstance(step, FunctionDropped) and step.undeployed)
            for step in self.steps
        )
