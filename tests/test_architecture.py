"""The shape of the code itself: imports go one way, no function is too tangled to read, and
the CLI stays thin.

The import graph is read from the source (every import statement, at module level or inside
a function; `if TYPE_CHECKING:` blocks, which never run, left out), so a cycle fails here
before it can fail at run time in some order of imports."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "archcalc"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_anywhere_in_archcalc():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


MAX_COMPLEXITY = 20
MAX_CLI_LINES = 400


def test_no_function_is_more_complex_than_20():
    """Cyclomatic complexity as radon measures it, every function and method of archcalc/."""
    from radon.complexity import cc_visit

    def blocks(found):
        for block in found:
            yield block
            yield from blocks(getattr(block, "closures", []))  # functions defined inside functions

    tangled = [f"{path.relative_to(REPO)}:{block.lineno} {block.fullname} ({block.complexity})"
               for path in sorted(PACKAGE.rglob("*.py")) for block in blocks(cc_visit(path.read_text()))
               if block.complexity > MAX_COMPLEXITY]
    assert tangled == []


def test_the_cli_is_thin():
    """Commands only: no rendering (report/ renders, by each module's RENDERERS) and no format branches."""
    text = (PACKAGE / "cli.py").read_text()
    assert len(text.splitlines()) <= MAX_CLI_LINES
    assert "fmt ==" not in text and "sys.exit" not in text


RENDERER_TABLES = {"summarize": "archcalc.report.summarize:RENDERERS",
                   "compare-conventions": "archcalc.report.compare_report:RENDERERS",
                   "check": "archcalc.report.check_report:RENDERERS", "grade": "archcalc.report.grade_report:RENDERERS",
                   "explain": "archcalc.report.explain:RENDERERS", "solve": "archcalc.report.solve_report:RENDERERS",
                   "run": "archcalc.report.run_report:RENDERERS", "sweep": "archcalc.report.sweep_report:RENDERERS",
                   "kinds": "archcalc.report.kinds_report:RENDERERS", "import": "archcalc.report.import_report:RENDERERS",
                   "diagram": "archcalc.pictures.diagram:RENDERERS", "verify": "archcalc.report.verify_report:VIEWS",
                   "export": "archcalc.report.lms_report:RENDERERS"}


def test_every_format_a_command_offers_has_its_renderer():
    import importlib

    from archcalc.cli import main

    offered = {name: next(p.type.choices for p in command.params if p.name == "fmt")
               for name, command in main.commands.items() if any(p.name == "fmt" for p in command.params)}
    assert set(offered) == set(RENDERER_TABLES)
    for name, where in RENDERER_TABLES.items():
        module, _, table = where.partition(":")
        assert set(offered[name]) == set(getattr(importlib.import_module(module), table)), name
