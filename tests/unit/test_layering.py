"""The dependency arrows point one way: grid's core needs neither Ray nor the actors,
and the actors never reach back into grid's client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The client: everything that talks to actors, through the dispatcher and a transport.
CLIENT_MODULES = {
    "grid",
    "grid._client",
    "grid._dispatch",
    "grid._table",
    "grid._batcher",
    "grid._batch",
    "grid._transactions",
    "grid._streams",
    "grid._cli",
    "grid._ray_transport",
    "grid._local_transport",
}
# Of the client, only these reach Ray or the actors.
TRANSPORT_MODULES = {"grid._ray_transport", "grid._local_transport"}
GRID_MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "grid").rglob("*.py"))
ACTOR_MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "actors").glob("*.py"))


def is_client(module: str) -> bool:
    return module in CLIENT_MODULES or module == "grid._http" or module.startswith("grid._http.")


def module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: str) -> list[tuple[str, list[str], int]]:
    """Every import anywhere in the module (functions included): (module, names, line)."""
    return imports_in_source((ROOT / path).read_text(), path)


def imports_in_source(source: str, path: str) -> list[tuple[str, list[str], int]]:
    tree = ast.parse(source, filename=path)
    package = module_name(path) if path.endswith("__init__.py") else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


CORE_MODULES = [path for path in GRID_MODULES if not is_client(module_name(path))]
CLIENT_NAMES = {"connect", "Grid", "Table", "LocalTransport"} | {
    module.rpartition(".")[2] for module in CLIENT_MODULES if module != "grid"
}


def test_the_module_lists_are_real() -> None:
    for path in CORE_MODULES + ACTOR_MODULES:
        assert (ROOT / path).is_file(), path
    assert "grid/_expressions/parse.py" in CORE_MODULES
    assert "grid/_services.py" in CORE_MODULES and "grid/_transport.py" in CORE_MODULES
    assert "actors/partition_store.py" in ACTOR_MODULES
    for module in CLIENT_MODULES:
        assert module == "grid" or (ROOT / (module.replace(".", "/") + ".py")).is_file(), module


def test_the_import_finder_sees_nested_and_relative_imports() -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    import ray.util\n"
        "    from . import sibling\n"
        "    from .._client import connect\n"
        "class C:\n"
        "    from actors import router\n"
    )
    found = [(module, names) for module, names, _ in imports_in_source(source, "grid/_expressions/evaluate.py")]
    assert found == [
        ("os", []),
        ("ray.util", []),
        ("grid._expressions", ["sibling"]),
        ("grid._client", ["connect"]),
        ("actors", ["router"]),
    ]


@pytest.mark.parametrize("path", CORE_MODULES)
def test_core_modules_import_neither_ray_nor_actors_nor_the_client(path: str) -> None:
    bad = [
        (module, line)
        for module, _, line in imports_of(path)
        if module.split(".")[0] in ("ray", "actors") or is_client(module)
    ]
    assert bad == [], f"{path} imports {bad}"


@pytest.mark.parametrize("path", [p for p in GRID_MODULES if is_client(module_name(p))])
def test_only_the_transports_reach_ray_or_the_actors(path: str) -> None:
    if module_name(path) in TRANSPORT_MODULES:
        return
    bad = [(module, line) for module, _, line in imports_of(path) if module.split(".")[0] in ("ray", "actors")]
    assert bad == [], f"{path} imports {bad}: only {sorted(TRANSPORT_MODULES)} may"


@pytest.mark.parametrize("path", ACTOR_MODULES)
def test_actors_never_import_grids_client(path: str) -> None:
    bad = []
    for module, names, line in imports_of(path):
        if is_client(module) and module != "grid":
            bad.append((module, line))
        elif module == "grid" and (not names or CLIENT_NAMES.intersection(names)):
            bad.append((module, names, line))
    assert bad == [], f"{path} imports grid's client: {bad}"


def import_graph() -> dict[str, set[str]]:
    """Every import, nested ones too, between modules of grid/ and actors/."""
    paths = GRID_MODULES + ACTOR_MODULES
    known = {module_name(path) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        edges = set()
        for module, names, _ in imports_of(path):
            candidates = [f"{module}.{name}" for name in names] + [module]
            target = next((c for c in candidates if c in known), None)
            if target is not None and target != module_name(path):
                edges.add(target)
        graph[module_name(path)] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
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


def test_there_are_no_import_cycles() -> None:
    graph = import_graph()
    assert "actors.router" in graph["actors.launch"]  # the graph sees real edges
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_core_and_partition_store_import_without_ray() -> None:
    modules = [module_name(p) for p in CORE_MODULES] + ["actors.change_log", "actors.partition_store"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
