"""The ``edgefn.toml`` project file."""

from edgehost.project.schema import (
    PROJECT_FILE,
    DeploymentDef,
    FunctionDef,
    Project,
    ProjectError,
    RouteDef,
    load_project,
    project_from_dict,
)

__all__ = [
    "PROJECT_FILE",
    "DeploymentDef",
    "FunctionDef",
    "Project",
    "ProjectError",
    "RouteDef",
    "load_project",
    "project_from_dict",
]
