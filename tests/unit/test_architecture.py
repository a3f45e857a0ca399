"""The package's shape: layers in the declared order, no import circle, pure code pure.

``credit_risk.LAYERS`` declares the order of the sub-packages, lowest first (the package
docstring says what each holds). This test walks every module of the package, reads its
imports from the source (module level and inside functions alike) and fails on:

- an import of a higher layer (an arrow that runs upward);
- an import circle between modules;
- a pure module that imports boto3, botocore or SQLAlchemy, directly or through another
  module of the package. Modules in the adapter layers and the I/O modules named below
  may do I/O; every other module is pure.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import credit_risk

PACKAGE_DIR = Path(credit_risk.__file__).resolve().parent
IO_PACKAGES = ("boto3", "botocore", "sqlalchemy")
IO_LAYERS = {"adapters", "db", "runtime", "__main__"}
IO_MODULES = {
    "credit_risk.data.ingestion",
    "credit_risk.data.erasure",
    "credit_risk.data.etl",
    "credit_risk.data.gate",
    "credit_risk.models.registry",
    "credit_risk.models.training.orchestration",
    "credit_risk.decisions.serving",
    "credit_risk.decisions.rescore",
    "credit_risk.monitoring.service",
    "credit_risk.monitoring.shadow_store",
    "credit_risk.governance.audit",
    "credit_risk.governance.revocation",
    "credit_risk.decisions.policy_store",
    "credit_risk.governance.policy_promotion",
}
# Data, not code: the root package holds only constants, ``defaults`` only YAML files.
FOUNDATION = {"credit_risk", "credit_risk.defaults"}


@dataclass
class Module:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)  # every import, type-only included
    runtime_imports: set[str] = field(default_factory=set)  # what runs when it loads


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    tree: ast.AST, modules: set[str], *, type_only: bool = False
) -> list[tuple[str, bool]]:
    """(imported module, type-only) for every import statement under ``tree``."""
    found: list[tuple[str, bool]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                found += _imports(
                    ast.Module(body=[child], type_ignores=[]), modules, type_only=True
                )
            for child in node.orelse:
                found += _imports(
                    ast.Module(body=[child], type_ignores=[]), modules, type_only=type_only
                )
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, type_only) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule if submodule in modules else node.module, type_only))
        else:
            found += _imports(node, modules, type_only=type_only)
    return found


def _walk() -> dict[str, Module]:
    paths = sorted(PACKAGE_DIR.rglob("*.py"))
    names = {_module_name(p) for p in paths}
    modules = {}
    for path in paths:
        module = Module(_module_name(path), path)
        for imported, type_only in _imports(ast.parse(path.read_text()), names):
            module.imports.add(imported)
            if not type_only:
                module.runtime_imports.add(imported)
        modules[module.name] = module
    return modules


MODULES = _walk()


def _layer(name: str) -> str | None:
    if name in FOUNDATION:
        return None
    return name.split(".")[1]


def _ours(name: str) -> bool:
    return name == "credit_risk" or name.startswith("credit_risk.")


def test_every_module_belongs_to_a_declared_layer() -> None:
    undeclared = {
        name: _layer(name)
        for name in MODULES
        if _layer(name) is not None and _layer(name) not in credit_risk.LAYERS
    }
    assert not undeclared, f"modules outside the declared layers: {undeclared}"


def test_no_import_runs_against_the_declared_order_of_the_layers() -> None:
    rank = {layer: i for i, layer in enumerate(credit_risk.LAYERS)}
    upward = []
    for module in MODULES.values():
        own = _layer(module.name)
        for imported in sorted(module.imports):
            if not _ours(imported) or own is None:
                continue
            target = _layer(imported)
            if target is not None and rank[target] > rank[own]:
                upward.append(f"{module.name} ({own}) imports {imported} ({target})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle() -> None:
    graph = {
        name: {i for i in module.imports if i in MODULES and i != name}
        for name, module in MODULES.items()
    }
    # A package imports its own sub-modules to re-export them; a sub-module importing its
    # package's __init__ back would be a circle, and is caught like any other.
    assert _cycles(graph) == []


def _direct_io(module: Module) -> set[str]:
    return {i for i in module.runtime_imports if i.split(".")[0] in IO_PACKAGES}


def _io_reached(name: str, seen: set[str] | None = None) -> set[str]:
    """I/O packages a module loads, directly or through modules of the package."""
    seen = set() if seen is None else seen
    if name in seen or name not in MODULES:
        return set()
    seen.add(name)
    module = MODULES[name]
    reached = _direct_io(module)
    for imported in module.runtime_imports:
        if imported in MODULES:
            reached |= {f"{p} (through {imported})" for p in _io_reached(imported, seen)}
    return reached


def _pure(name: str) -> bool:
    return _layer(name) not in IO_LAYERS and name not in IO_MODULES


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _pure(n)))
def test_a_pure_module_imports_neither_boto3_botocore_nor_sqlalchemy(name: str) -> None:
    assert _io_reached(name) == set()


def test_the_declared_io_modules_exist() -> None:
    assert set(MODULES) >= IO_MODULES


def test_the_checks_catch_what_they_are_for() -> None:
    """The three detectors, on made-up graphs: a circle, an upward arrow, a hidden I/O."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from credit_risk.runtime import Runtime\n"
        "def f():\n    import sqlalchemy\n"
    )
    assert sorted(_imports(tree, set())) == [
        ("credit_risk.runtime", True),
        ("sqlalchemy", False),
        ("typing", False),
    ]
