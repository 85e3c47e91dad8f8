"""The import graph of the project's own modules is a DAG, and batch jobs never import an HTTP route.

Every import counts, function-local ones included (a local import hides a cycle, it does not
break it); only imports under ``if TYPE_CHECKING:`` are left out (they never run). An import of a
package counts as importing its ``__init__``; ``from package import name`` counts as importing
``package.name`` when that is a module, else the package.
"""

from __future__ import annotations

import ast
import re
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


# ---- the web page's modules (server/static): one module script, imports only, a DAG -------------

STATIC = SRC / "crnn_ocr" / "server" / "static"
#: ``import { a, b } from "./x.js";``: the one import form the page uses (relative, named).
JS_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.{1,2}/[^"]+\.js)";', re.M)
JS_EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function|const|let|class)\s+([\w$]+)", re.M)


def _js_imports(path: Path) -> list[tuple[Path, list[str]]]:
    """(imported file, names) for each import of the module at ``path``."""
    text = path.read_text(encoding="utf-8")
    found = [((path.parent / source).resolve(), [n.strip() for n in names.split(",") if n.strip()])
             for names, source in JS_IMPORT.findall(text)]
    statements = re.findall(r"^import\b", text, re.M)
    assert len(statements) == len(found), f"{path.name}: an import the reader does not understand"
    return found


def web_graph() -> tuple[dict[str, set[str]], list[str]]:
    """The page's modules: module -> the modules it imports; and what is wrong with the imports."""
    modules = {p.resolve(): p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js")}
    exports = {p: set(JS_EXPORT.findall(p.read_text(encoding="utf-8"))) for p in modules}
    graph: dict[str, set[str]] = {}
    problems = []
    for path, name in modules.items():
        graph[name] = set()
        for target, names in _js_imports(path):
            if target not in modules:
                problems.append(f"{name} imports {target.name}, which is not a module of the page")
                continue
            graph[name].add(modules[target])
            problems += [f"{name} imports {n} from {modules[target]}, which does not export it"
                         for n in names if n not in exports[target]]
    return graph, problems


def test_the_js_import_reader_reads_named_imports_and_refuses_others(tmp_path: Path) -> None:
    module = tmp_path / "m.js"
    module.write_text('import { a,\n  b } from "./x.js";\nimport { c } from "../y.js";\n', encoding="utf-8")
    assert _js_imports(module) == [((tmp_path / "x.js").resolve(), ["a", "b"]),
                                   ((tmp_path.parent / "y.js").resolve(), ["c"])]
    module.write_text('import * as x from "./x.js";\n', encoding="utf-8")
    with pytest.raises(AssertionError, match="does not understand"):
        _js_imports(module)


def test_the_web_page_loads_one_module_script() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/app.js">']


def test_the_web_page_modules_share_nothing_but_imports() -> None:
    """Every import names a module and what it exports; the imports form a DAG from app.js that
    reaches every module (none left over); no module shares a global."""
    graph, problems = web_graph()
    assert {"app.js", "i18n.js", "api.js", "options.js", "views/read.js"} <= set(graph)
    assert problems == []
    cycles = find_cycles(graph)
    assert not cycles, _report(cycles)
    reached, todo = set(), ["app.js"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += graph[module]
    assert sorted(set(graph) - reached) == []
    for path in STATIC.rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        global_set = re.search(r"\b(?:window|globalThis|self)\.[\w$]+\s*=[^=]", text)
        assert not global_set, f"{path.name} sets a global: {global_set.group(0) if global_set else ''}"
