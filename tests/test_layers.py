"""The layout stays true: imports go one way down the layers, and the code has no import cycles.

Layers, lowest first (DESIGN.md, "Layout"):

    checkers                    imports nothing from sim/ or faults/
    sim base                    config, history, rand, errors, bugs, buggify_sites, compiled
    sim.cluster                 the model of Kafka
    sim.clients | faults        what drives the cluster | what breaks it (neither imports the other)
    sim.runs                    one run, store, campaign, liveness
    sim.report                  what people see
    sim.scenarios               the gallery, real bugs, bug matrix
    sim (API), cli, docs, pytest_plugin

A module may import its own layer or any layer below it. Imports under ``if TYPE_CHECKING:`` and
inside functions count like any other: a type-only back edge is still a cycle in the design (the
cluster's nodes see the world through ``sim.cluster.context.Context``, not ``World``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "faults", "checkers")

# (layer name, rank, module prefixes); the first matching prefix wins, longest first.
LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    ("checkers", 0, ("checkers",)),
    # sim.compiled: where the compiled core is (the cluster and clients packages ask it)
    (
        "base",
        1,
        (
            "sim.config",
            "sim.history",
            "sim.rand",
            "sim.errors",
            "sim.bugs",
            "sim.buggify_sites",
            "sim.compiled",
        ),
    ),
    ("cluster", 2, ("sim.cluster",)),
    ("clients", 3, ("sim.clients",)),
    ("faults", 3, ("faults",)),
    ("runs", 4, ("sim.runs",)),
    ("report", 5, ("sim.report",)),
    ("scenarios", 6, ("sim.scenarios",)),
    ("top", 7, ("sim.cli", "sim.docs", "sim.pytest_plugin", "sim")),
]


def layer_of(module: str) -> tuple[str, int]:
    best: tuple[int, str, int] | None = None
    for name, rank, prefixes in LAYERS:
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), name, rank)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[1], best[2]


@dataclass(frozen=True)
class Import:
    src: str
    dst: str
    line: int
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import of an in-tree module, with whether it only serves the type checker."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, *([node.module] if node.module else [])])

    def add(target: str, line: int, type_only: bool) -> None:
        # "from pkg import name" imports pkg.name when that is a module, else pkg itself
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != module:
            found.append(Import(module, target, line, type_only))

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node)
            for alias in node.names:
                add(f"{base}.{alias.name}", node.lineno, type_only)
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return found


def all_imports() -> list[Import]:
    modules = all_modules()
    known = set(modules)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, known)]


def layer_violations(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        src_layer, src_rank = layer_of(imp.src)
        dst_layer, dst_rank = layer_of(imp.dst)
        if dst_rank > src_rank or (dst_rank == src_rank and dst_layer != src_layer):
            bad.append(f"{imp.src}:{imp.line} imports {imp.dst} ({src_layer} -> {dst_layer})")
    return bad


def import_cycles(imports: list[Import]) -> list[list[str]]:
    graph = nx.DiGraph()
    graph.add_edges_from((imp.src, imp.dst) for imp in imports)
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def test_every_module_is_in_a_layer() -> None:
    for module in all_modules():
        layer_of(module)


def test_imports_go_one_way_down() -> None:
    assert layer_violations(all_imports()) == []


def test_no_import_cycles() -> None:
    assert import_cycles(all_imports()) == []


@pytest.mark.parametrize(
    ("src", "dst", "upward"),
    [
        ("sim.cluster.broker", "sim.runs.runner", True),
        ("sim.clients.producer", "faults.catalog", True),  # siblings do not import each other
        ("faults.shrink", "sim.runs.runner", True),
        ("checkers.writes", "sim.config", True),
        ("sim.runs.runner", "sim.cluster.world", False),
        ("faults.catalog", "sim.cluster.network", False),
        ("sim.cli", "checkers", False),
    ],
)
def test_the_rule_itself_can_fail(src: str, dst: str, upward: bool) -> None:
    """The checks above are only worth something if they flag a bad import and a cycle."""
    assert bool(layer_violations([Import(src, dst, 1, False)])) is upward


def test_a_cycle_is_found() -> None:
    imports = [Import("sim.cluster.a", "sim.cluster.b", 1, False)]
    imports.append(Import("sim.cluster.b", "sim.cluster.a", 1, False))
    assert import_cycles(imports) == [["sim.cluster.a", "sim.cluster.b"]]
    imports[1] = Import("sim.cluster.b", "sim.cluster.a", 1, True)  # type-only: still a cycle
    assert import_cycles(imports) == [["sim.cluster.a", "sim.cluster.b"]]
    assert import_cycles(imports[:1]) == []
