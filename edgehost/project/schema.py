"""The ``edgefn.toml`` project file: parsed and validated into frozen dataclasses.

Validation collects every problem before failing, one message each, naming the file, the table
(index and name when known) and the key, so a developer fixes them all in one pass. The same checks
run on already-decoded data through ``project_from_dict`` so the control plane can reuse them.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgehost.guestbuild import SOURCE_KINDS, SOURCE_SUFFIXES
from edgehost.kv import STORE_NAME, STORE_NAME_RULE
from edgehost.limits import (
    DEFAULT_MAX_EXECUTION_MS,
    DEFAULT_MEMORY_PAGES,
    ENV_PATTERN,
    MAX_ENV_VALUE,
    MAX_ENV_VARS,
    MAX_EXECUTION_MS,
    MAX_MAX_HOT_INSTANCES,
    MAX_MEMORY_PAGES,
    MAX_MIN_HOT_INSTANCES,
    MAX_SECRETS,
    FunctionLimits,
)
from edgehost.project.toml_table import Table, fields_of, show
from edgehost.routes import METHODS, is_host_name, parse_host, parse_path
from edgehost.selectors import SelectorError, compile_selector

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

PROJECT_FILE = "edgefn.toml"


class FunctionDef(FunctionLimits, frozen=True):
    """A `[[functions]]` table; `http_allow` lower-cased host names, IP literals or "*.domain"."""

    name: str
    wasm: Path  # absolute, resolved against the project file's folder
    entrypoint: str = "handle"


@dataclass(frozen=True, kw_only=True)  # kw_only: the fixed field order puts a default before "path"
class RouteDef:
    host: str = "*"  # lower-cased
    path: str
    methods: tuple[str, ...] = ()  # upper-cased; empty means every method
    function: str
    priority: int = 0


@dataclass(frozen=True)
class DeploymentDef:
    function: str
    selector: str = "true"


@dataclass(frozen=True)
class Project:
    name: str
    path: Path  # the project file itself, absolute
    functions: tuple[FunctionDef, ...]
    routes: tuple[RouteDef, ...]
    deployments: tuple[DeploymentDef, ...]


class ProjectError(Exception):
    """A project file that cannot be used; ``problems`` holds one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


TOP_LEVEL_KEYS = ("project", "functions", "routes", "deployments")
# Exports the guest ABI already gives a meaning to cannot double as the request handler.
ABI_EXPORTS = frozenset({"memory", "edgefn_alloc", "edgefn_free", "_initialize"})
INT32 = (-(2**31), 2**31 - 1)

NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EXPORT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
NAME_RULE = "1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
# Environment variable names: POSIX's portable names in upper case (the rule secret names share).
ENV_NAME = re.compile(ENV_PATTERN)
ENV_NAME_RULE = "upper-case letters, digits and '_', not starting with a digit"


def load_project(path: Path) -> Project:
    """Read and validate a project file, or the ``edgefn.toml`` inside a directory."""
    file = path / PROJECT_FILE if path.is_dir() else path
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProjectError([f"{file}: cannot read project file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ProjectError([f"{file.name}: not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    except tomllib.TOMLDecodeError as exc:  # its message ends with "(at line L, column C)"
        raise ProjectError([f"{file.name}: invalid TOML: {exc}"]) from None
    return project_from_dict(data, path=file)


def project_from_dict(data: Mapping[str, Any], *, path: Path) -> Project:
    """Validate decoded project data; ``path`` is the project file (names it, anchors ``wasm``)."""
    file = path.resolve()
    problems: list[str] = []
    top = Table(data, path.name, problems, known=TOP_LEVEL_KEYS)
    name = top.text("project")
    if top.has_text("project") and not NAME.fullmatch(name):
        top.problem(f"project must be {NAME_RULE}, got {show(name)}")

    functions: list[FunctionDef] = []
    seen: dict[str, str] = {}  # function name -> label of the table that defined it
    for index, raw in enumerate(top.tables("functions"), 1):
        fn_name = raw.get("name")
        label = f"{path.name}: [[functions]] #{index}" + (
            f" {show(fn_name)}" if isinstance(fn_name, str) else ""
        )
        if isinstance(fn_name, str) and fn_name in seen:
            problems.append(f"{label}: name {show(fn_name)} is already used by {seen[fn_name]}")
        elif isinstance(fn_name, str):
            seen[fn_name] = f"[[functions]] #{index}"
        function = _function(Table(raw, label, problems, known=fields_of(FunctionDef)), file.parent)
        if function is not None:
            functions.append(function)

    routes: list[RouteDef] = []
    for index, raw in enumerate(top.tables("routes"), 1):
        route = _route(Table(raw, f"{path.name}: [[routes]] #{index}", problems, fields_of(RouteDef)), seen)
        if route is not None:
            routes.append(route)

    deployments: list[DeploymentDef] = []
    for index, raw in enumerate(top.tables("deployments"), 1):
        table = Table(raw, f"{path.name}: [[deployments]] #{index}", problems, fields_of(DeploymentDef))
        deployment = _deployment(table, seen)
        if deployment is not None:
            deployments.append(deployment)

    if problems:
        raise ProjectError(problems)
    return Project(name, file, tuple(functions), tuple(routes), tuple(deployments))


def _function(table: Table, base: Path) -> FunctionDef | None:
    name = table.text("name")
    if table.has_text("name") and not NAME.fullmatch(name):
        table.problem(f"name must be {NAME_RULE}, got {show(name)}")
    wasm = table.text("wasm")
    resolved = (base / wasm).resolve()
    if table.has_text("wasm"):
        if resolved.suffix.lower() not in SOURCE_SUFFIXES:
            table.problem(f"wasm must name a {SOURCE_KINDS} file, got {show(wasm)}")
        if not resolved.is_file():
            table.problem(f"wasm file {show(wasm)} does not exist (looked for {resolved})")
    entrypoint = table.text("entrypoint", "handle")
    if not _EXPORT.fullmatch(entrypoint):
        table.problem(
            "entrypoint must be an export name of letters, digits and '_' not starting with a digit, "
            f"got {show(entrypoint)}"
        )
    elif entrypoint in ABI_EXPORTS:
        table.problem(f"entrypoint {show(entrypoint)} is already an export of the guest ABI")
    memory_pages = table.integer("memory_pages", DEFAULT_MEMORY_PAGES, 1, MAX_MEMORY_PAGES)
    max_execution_ms = table.integer("max_execution_ms", DEFAULT_MAX_EXECUTION_MS, 1, MAX_EXECUTION_MS)
    before = len(table.problems)
    min_hot = table.integer("min_hot_instances", 1, 0, MAX_MIN_HOT_INSTANCES)
    max_hot = table.integer("max_hot_instances", 16, 1, MAX_MAX_HOT_INSTANCES)
    if len(table.problems) == before and max_hot < min_hot:
        table.problem(f"max_hot_instances ({max_hot}) must be >= min_hot_instances ({min_hot})")
    fresh_instance = table.boolean("fresh_instance", False)
    http_allow = []
    for position, entry in table.strings("http_allow"):
        problem = _allow_problem(entry.lower())
        if problem:
            table.problem(f"http_allow[{position}] {show(entry)} {problem}")
        http_allow.append(entry.lower())
    env = _env(table)
    secrets = _secrets(table, env)
    kv = []
    for position, store in table.strings("kv"):
        if not STORE_NAME.fullmatch(store):
            table.problem(f"kv[{position}] must be a store name of {STORE_NAME_RULE}, got {show(store)}")
        kv.append(store)
    if not table.ok:
        return None
    return FunctionDef(
        name,
        resolved,
        entrypoint,
        memory_pages=memory_pages,
        max_execution_ms=max_execution_ms,
        min_hot_instances=min_hot,
        max_hot_instances=max_hot,
        fresh_instance=fresh_instance,
        http_allow=tuple(http_allow),
        kv=tuple(dict.fromkeys(kv)),
        env=env,
        secrets=secrets,
    )


def _env(table: Table) -> dict[str, str]:
    """`env = { NAME = "value" }`: names by ENV_NAME, string values without NUL (environ entries end
    in one), at most MAX_ENV_VARS of at most MAX_ENV_VALUE characters each."""
    env: dict[str, str] = {}
    for name, value in table.string_table("env"):
        if not ENV_NAME.fullmatch(name):
            table.problem(f"env key {show(name)} must be {ENV_NAME_RULE}")
        elif "\0" in value:
            table.problem(f"env.{name} must not contain a NUL character")
        elif len(value) > MAX_ENV_VALUE:
            table.problem(f"env.{name} must be at most {MAX_ENV_VALUE} characters, got {len(value)}")
        env[name] = value
    if len(env) > MAX_ENV_VARS:
        table.problem(f"env must have at most {MAX_ENV_VARS} variables, got {len(env)}")
    return env


def _secrets(table: Table, env: Mapping[str, str]) -> tuple[str, ...]:
    """`secrets = ["NAME", ...]`: names by ENV_NAME (they join the environment), none also in `env`
    (one name, one value), at most MAX_SECRETS; the values are set with `edgefn secret set`."""
    names: list[str] = []
    for position, name in table.strings("secrets"):
        if not ENV_NAME.fullmatch(name):
            table.problem(f"secrets[{position}] {show(name)} must be {ENV_NAME_RULE}")
        elif name in env:
            table.problem(
                f"secrets[{position}] {show(name)} is also a key of env: a name is one or the other"
            )
        names.append(name)
    unique = tuple(dict.fromkeys(names))
    if len(unique) > MAX_SECRETS:
        table.problem(f"secrets must name at most {MAX_SECRETS} secrets, got {len(unique)}")
    return unique


def _route(table: Table, functions: Mapping[str, str]) -> RouteDef | None:
    host = table.text("host", "*").lower()
    table.syntax(parse_host, host)
    path = table.text("path")
    if table.has_text("path"):
        table.syntax(parse_path, path)
    methods: list[str] = []
    for position, method in table.strings("methods"):
        if method.upper() not in METHODS:
            table.problem(f"methods[{position}] must be one of {', '.join(METHODS)}, got {show(method)}")
        methods.append(method.upper())
    function = table.reference(functions)
    priority = table.integer("priority", 0, *INT32)
    if not table.ok:
        return None
    return RouteDef(
        host=host, path=path, methods=tuple(dict.fromkeys(methods)), function=function, priority=priority
    )


def _deployment(table: Table, functions: Mapping[str, str]) -> DeploymentDef | None:
    function = table.reference(functions)
    selector = table.text("selector", "true")
    if table.has_text("selector"):
        try:
            compile_selector(selector)
        except SelectorError as exc:  # its message starts with "selector", naming the key
            table.problem(str(exc))
    return DeploymentDef(function, selector) if table.ok else None


def _allow_problem(entry: str) -> str | None:
    """Why an ``http_allow`` entry is unusable, or None: hosts, IP literals and "*.domain" only."""
    try:
        ipaddress.ip_address(entry)
        return None
    except ValueError:
        pass
    if is_host_name(entry.removeprefix("*.")):
        return None
    kind = 'must be a host name, an IP address or "*.domain"'
    if "://" in entry:
        return f"{kind}, without a scheme"
    if "/" in entry:
        return f"{kind}, without a path"
    if ":" in entry:
        return f"{kind}, without a port"
    return kind
