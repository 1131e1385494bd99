"""The shape of the code base, read from its import statements (parsed with `ast`, nothing imported):
no import cycles, the core reaches the built-in plugins only through the plugin manager (which
imports them by name at run time), and modules stay small enough to read in one sitting."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import edgehost
from edgehost.plugin_manager import DEFAULT_PLUGINS, builtin, make_plugin_manager

CORE_ROOT = Path(edgehost.__file__).parent
MAX_LINES = 400


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def plugin_files() -> dict[str, Path]:
    """Every module of the packages the built-in plugins are in (their helpers too, such as the
    pooling plugin's `hot_pool`), wherever they are installed. `edgehost.plugins` is a link to
    the repository's `plugins/` folder, which `rglob` does not follow from `CORE_ROOT`: each
    module is read once, under the name it is imported by."""
    files = {}
    for name in DEFAULT_PLUGINS:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"built-in plugin {name} is not importable"
        files.update(module_files(Path(spec.origin).parent, name.rpartition(".")[0]))
    assert set(DEFAULT_PLUGINS) <= set(files)
    return files


def all_modules() -> dict[str, Path]:
    return {**module_files(CORE_ROOT, "edgehost"), **plugin_files()}


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every module name `module` imports anywhere (top level, functions, `TYPE_CHECKING` blocks):
    a type-only import still ties the two modules together for the reader."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from pkg import name`: the submodule `pkg.name` if there is one, else `pkg` itself
            yield from (f"{target}.{alias.name}" for alias in node.names)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the analysed modules it imports (a name that is not a module counts as its module,
    so a submodule taking a name from its own package's `__init__` depends on that package)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for name in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add(name)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def core_to_plugin(graph: dict[str, set[str]], plugins: Iterable[str]) -> list[str]:
    plugin_set = set(plugins)
    return [
        f"{module} imports {target}"
        for module, targets in sorted(graph.items())
        if module not in plugin_set
        for target in sorted(targets & plugin_set)
    ]


def test_no_import_cycles() -> None:
    found = cycles(import_graph(all_modules()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_core_reaches_built_in_plugins_only_through_the_plugin_manager() -> None:
    assert core_to_plugin(import_graph(all_modules()), plugin_files()) == []


def test_the_core_finds_a_built_in_through_the_plugin_manager() -> None:
    """What `edgefn dev --log-format pretty` relies on: the module while registered, None once disabled."""
    module = builtin(make_plugin_manager(entry_points=False), "invocation_log")
    assert module is not None and module.__name__.endswith("invocation_log")
    disabled = make_plugin_manager(disabled=["invocation_log"], entry_points=False)
    assert builtin(disabled, "invocation_log") is None
    assert builtin(make_plugin_manager(entry_points=False), "no_such_plugin") is None


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_modules_stay_small(module: str) -> None:
    lines = len(all_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by job (at most {MAX_LINES})"


# The checks themselves, on made-up graphs: each would fail on the shape it guards against.


def test_cycles_finds_type_only_and_indirect_cycles(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
    (package / "a.py").write_text(type_only)
    (package / "b.py").write_text("from pkg import c\n")
    (package / "c.py").write_text("def f():\n    import pkg.a\n")
    (package / "d.py").write_text("from . import a\n")
    graph = import_graph(module_files(package, "pkg"))
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_core_to_plugin_names_the_direct_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "builtins").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "builtins" / "__init__.py").write_text("")
    (package / "builtins" / "metrics.py").write_text("from pkg.core import thing\n")
    (package / "core.py").write_text("from pkg.builtins.metrics import LATENCY\n")
    graph = import_graph(module_files(package, "pkg"))
    assert core_to_plugin(graph, ["pkg.builtins.metrics"]) == ["pkg.core imports pkg.builtins.metrics"]
