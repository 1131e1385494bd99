"""`FunctionLimits`: one definition of a function's limits, so the project file, the developer API
and the node protocol accept exactly the same values, and every struct carries the same fields."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from edgehost.controlplane.schemas import FunctionCreate, VersionInfo
from edgehost.errors import ApiError
from edgehost.limits import FunctionLimits, limits_of
from edgehost.project import FunctionDef, ProjectError, project_from_dict
from edgehost.protocol import FunctionDeployment
from edgehost.runner.snapshot import spec_of
from edgehost.runtime import FunctionSpec

LIMITS = ("memory_pages", "max_execution_ms", "min_hot_instances", "max_hot_instances")
BOUNDARIES = (-1, 0, 1, 2, 15, 16, 1024, 1025, 4096, 4097, 32768, 32769, 300_000, 300_001, 2**31)


@pytest.mark.parametrize(
    "struct", [FunctionCreate, VersionInfo, FunctionDeployment, FunctionSpec, FunctionDef]
)
def test_every_struct_that_carries_limits_carries_these(struct: type) -> None:
    assert issubclass(struct, FunctionLimits)
    fields = {f.name: f.type for f in msgspec.structs.fields(struct)}
    for f in msgspec.structs.fields(FunctionLimits):
        assert fields[f.name] == f.type, f.name


def _project_accepts(fields: dict[str, int], tmp_path: Path) -> bool:
    wasm = tmp_path / "f.wat"
    wasm.write_text("(module)")
    data = {"project": "p", "functions": [{"name": "f", "wasm": "f.wat", **fields}]}
    try:
        project_from_dict(data, path=tmp_path / "edgefn.toml")
    except ProjectError:
        return False
    return True


def _api_accepts(fields: dict[str, int]) -> bool:
    body = {"name": "f", "entrypoint": "handle", "memory_pages": 16, "max_execution_ms": 50, **fields}
    try:
        msgspec.convert(body, FunctionCreate)
    except (msgspec.ValidationError, ApiError):  # ApiError: min above max, a 422 like the others
        return False
    return True


def test_the_project_file_and_the_api_accept_the_same_limits(tmp_path: Path) -> None:
    """Every boundary value of each limit, every pair of hot-pool sizes, then seeded random mixes:
    a project file that validates is a body the API accepts and the other way round (a bound kept
    in one place only would split them)."""
    cases: list[dict[str, int]] = [{key: value} for key in LIMITS for value in BOUNDARIES]
    cases += [{"min_hot_instances": a, "max_hot_instances": b} for a in BOUNDARIES for b in BOUNDARIES]
    rng = random.Random(14)
    cases += [
        {key: rng.choice(BOUNDARIES) for key in rng.sample(LIMITS, rng.randint(1, 4))} for _ in range(200)
    ]
    # A boolean is only a boolean in both: not 0, 1, "true" or null.
    cases += [{"fresh_instance": value} for value in (True, False, 0, 1, "true", None)]  # type: ignore[dict-item]
    for fields in cases:
        assert _project_accepts(fields, tmp_path) == _api_accepts(fields), fields


def test_a_deployment_runs_with_the_limits_it_carries() -> None:
    """The runtime spec of a deployment, and the deployment after the wire, keep every limit."""
    limits = FunctionLimits(
        memory_pages=7,
        max_execution_ms=900,
        max_hot_instances=2,
        fresh_instance=True,
        http_allow=("a.example",),
    )
    identity = {
        "function_id": "p.f",
        "project": "p",
        "name": "f",
        "version": 3,
        "artifact_url": "",
        "sha256": "",
    }
    deployment = FunctionDeployment(**identity, **limits_of(limits))  # type: ignore[arg-type]
    assert limits_of(spec_of(deployment)) == limits_of(deployment) == limits_of(limits)
    assert msgspec.json.decode(msgspec.json.encode(deployment), type=FunctionDeployment) == deployment


def test_fresh_instance_false_is_left_off_the_wire_and_absent_reads_as_false() -> None:
    """Desired states and runner state files written before the key decode as before (absent:
    false), and a false one is not written, so an older runner reads exactly what it read."""
    identity = {
        "function_id": "p.f",
        "project": "p",
        "name": "f",
        "version": 1,
        "artifact_url": "",
        "sha256": "",
    }
    older = msgspec.json.encode({**identity, "memory_pages": 16, "max_execution_ms": 50})
    decoded = msgspec.json.decode(older, type=FunctionDeployment)
    assert decoded.fresh_instance is False
    assert b"fresh_instance" not in msgspec.json.encode(decoded)
    fresh = msgspec.structs.replace(decoded, fresh_instance=True)
    assert msgspec.json.decode(msgspec.json.encode(fresh), type=FunctionDeployment).fresh_instance is True
