"""The dependency arrows point one way: grid's core needs neither Ray nor the actors,
and the actors never reach back into grid's client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CORE_MODULES = [
    "grid/_types.py",
    "grid/_keys.py",
    "grid/_codec.py",
    "grid/_partition_map.py",
    "grid/_requests.py",
    "grid/_schema.py",
    "grid/_naming.py",
    "grid/errors.py",
    "grid/conditions.py",
    "grid/_changes.py",
    "grid/_wire.py",
    "grid/_expression_args.py",
    "grid/_item_requests.py",
    "grid/_retry.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "grid" / "_expressions").glob("*.py")),
]
ACTOR_MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "actors").glob("*.py"))
CLIENT_MODULES = {
    "grid._client",
    "grid._table",
    "grid._batcher",
    "grid._transport",
    "grid._batch",
    "grid._transactions",
    "grid._streams",
    "grid._http",
    "grid._cli",
}
CLIENT_NAMES = {
    "connect",
    "Grid",
    "Table",
    "_client",
    "_table",
    "_batcher",
    "_transport",
    "_batch",
    "_transactions",
    "_streams",
    "_http",
    "_cli",
}


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


def test_the_module_lists_are_real() -> None:
    for path in CORE_MODULES + ACTOR_MODULES:
        assert (ROOT / path).is_file(), path
    assert "grid/_expressions/parse.py" in CORE_MODULES
    assert "actors/partition_store.py" in ACTOR_MODULES


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
def test_core_modules_import_neither_ray_nor_actors(path: str) -> None:
    bad = [(module, line) for module, _, line in imports_of(path) if module.split(".")[0] in ("ray", "actors")]
    assert bad == [], f"{path} imports {bad}"


@pytest.mark.parametrize("path", ACTOR_MODULES)
def test_actors_never_import_grids_client(path: str) -> None:
    bad = []
    for module, names, line in imports_of(path):
        if module in CLIENT_MODULES or any(module.startswith(m + ".") for m in CLIENT_MODULES):
            bad.append((module, line))
        elif module == "grid" and (not names or CLIENT_NAMES.intersection(names)):
            bad.append((module, names, line))
    assert bad == [], f"{path} imports grid's client: {bad}"


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
