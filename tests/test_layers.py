"""The package's imports run one way: leaves (errors, protocols, io, atomic, options, cli, config, scoring) <- models /
losses / evaluation <- data <- module <- entry points, with no cycle anywhere (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pairlab

SRC = Path(pairlab.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """pairlab modules `name` imports anywhere in its body (a package's own submodules excepted)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {t if t in MODULES else node.module for t in targets}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in MODULES and m != name and not m.startswith(f"{name}.")}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_imports(layer: str) -> set[tuple[str, str]]:
    return {(m, t) for m, targets in GRAPH.items() if m == layer or m.startswith(f"{layer}.") for t in targets}


def test_the_graph_sees_real_imports():
    assert "pairlab.evaluation.rerank" in GRAPH["pairlab.data.reranking"]
    assert "pairlab.losses.spec" in GRAPH["pairlab.losses.ranking"]


def test_evaluation_and_losses_import_nothing_from_data():
    for layer in ("pairlab.evaluation", "pairlab.losses", "pairlab.models"):
        wrong = {(m, t) for m, t in layer_imports(layer) if t.startswith("pairlab.data")}
        assert not wrong, wrong


def test_leaves_import_only_leaves():
    leaves = {"pairlab.errors", "pairlab.protocols", "pairlab.atomic", "pairlab.options", "pairlab.cli",
              "pairlab.config", "pairlab.scoring", "pairlab.io",
              *(name for name in GRAPH if name.startswith("pairlab.io."))}
    for leaf in leaves:
        assert GRAPH[leaf] <= leaves, (leaf, GRAPH[leaf])


def test_nothing_imports_an_entry_point():
    entry_points = {"pairlab.commands.train", "pairlab.commands.evaluate", "pairlab.commands.mine"}
    assert not {(m, t) for m, targets in GRAPH.items() for t in targets if t in entry_points}


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
