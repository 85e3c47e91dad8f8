"""The import graph of the project's own modules is a DAG, and batch jobs never import an HTTP route.

Every import counts, function-local ones included (a local import hides a cycle, it does not
break it); only imports under ``if TYPE_CHECKING:`` are left out (they never run). An import of a
package counts as importing its ``__init__``; ``from package import name`` counts as importing
``package.name`` when that is a module, else the package.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("crnn_ocr", "crnn_ocr_train")

@cache
def module_files() -> dict[str, Path]:
    """Every module under ``src/`` of the project's packages: dotted name -> file."""
    found = {}
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            parts = list(path.relative_to(SRC).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names imported anywhere in ``tree`` (functions included), ``TYPE_CHECKING`` blocks not."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names.extend(f"{origin}.{alias.name}" for alias in node.names)  # resolved up to a module below
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


@cache
def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for name in _imports(ast.parse(path.read_text(encoding="utf-8")), module, path.name == "__init__.py"):
            # "a.b.c" imports a.b.c if it is a module; "from a.b import f" names a.b.f: that is a.b
            # (its __init__) unless f is a module of a.b.
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that ends where it starts) per strongly connected component of more than
    one module (Tarjan): a graph without any is a DAG."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0

    def strongconnect(start: str) -> None:  # iterative: deep graphs must not hit the recursion limit
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle through the component's first module, as a path that ends where it starts."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    return paths[node] + [start]
                if child not in paths:
                    paths[child] = paths[node] + [child]
                    nxt.append(child)
        frontier = nxt
    return sorted(component)  # not reached: a strongly connected component has a cycle


def test_the_graph_reader_sees_local_imports_and_skips_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import crnn_ocr.io\n"
        "if TYPE_CHECKING:\n    from crnn_ocr.pipeline import OCR\n"
        "def f():\n    from crnn_ocr.server import reading\n"
        "from . import types\n"
    )
    names = _imports(tree, "crnn_ocr.batch", is_package=False)
    assert "crnn_ocr.io" in names and "crnn_ocr.server.reading" in names and "crnn_ocr.types" in names
    assert "crnn_ocr.pipeline" not in names and "crnn_ocr.pipeline.OCR" not in names


def test_find_cycles_reports_a_cycle_and_passes_a_dag() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def _report(cycles: list[list[str]]) -> str:
    return "import cycles (one per tangle; break each, then look again):\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert "crnn_ocr.server.reading" in graph and "crnn_ocr_train.model" in graph  # the walk found both trees
    cycles = find_cycles(graph)
    assert not cycles, _report(cycles)


def test_the_runtime_import_graph_has_no_cycle() -> None:
    """The runtime package alone (it never imports the training package)."""
    graph = {m: {t for t in targets if t.split(".")[0] == "crnn_ocr"} for m, targets in import_graph().items()
             if m.split(".")[0] == "crnn_ocr"}
    assert not any(t.startswith("crnn_ocr_train") for targets in graph.values() for t in targets)
    cycles = find_cycles(graph)
    assert not cycles, _report(cycles)


@pytest.mark.parametrize("module", sorted(m for m in module_files() if m.startswith("crnn_ocr.server.jobs")))
def test_no_job_module_imports_an_http_route(module: str) -> None:
    routes = sorted(m for m in import_graph()[module] if m == "crnn_ocr.server.routes" or m.startswith("crnn_ocr.server.routes."))
    assert not routes, f"{module} imports HTTP route modules: {', '.join(routes)}"
