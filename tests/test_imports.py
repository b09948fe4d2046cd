"""No import loop in the integration: the module import graph, built with `ast`.

Every `import` / `from ... import` in every module counts, also the ones inside
functions (a lazy import only hides a loop), except those under
`if TYPE_CHECKING:` (never executed). A package's implicit import of its
parents is left out, as import tools do; `from . import x` is an edge to the
submodule `x` when there is one, else to the package's `__init__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "custom_components.sungaze"


def _modules() -> dict[str, Path]:
    base = ROOT / "custom_components" / "sungaze"
    modules: dict[str, Path] = {}
    for path in base.rglob("*.py"):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([PACKAGE, *parts])] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[ast.AST]:
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_nodes(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if node in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0]
                    source = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    source = node.module or ""
                targets = [
                    f"{source}.{alias.name}"
                    if f"{source}.{alias.name}" in modules
                    else source
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_graph_sees_lazy_imports() -> None:
    """The graph is not blind: it finds known edges, lazy ones included."""
    graph = import_graph()
    assert f"{PACKAGE}.oauth" in graph[f"{PACKAGE}.flows.solaredge"]
    assert f"{PACKAGE}.flows" in graph[f"{PACKAGE}.application_credentials"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_loop() -> None:
    """No module of the integration imports itself back, however indirectly."""
    assert cycles(import_graph()) == []


def test_oauth_is_the_bottom_layer() -> None:
    """oauth.py builds on nothing but constants and connector errors."""
    graph = import_graph()
    assert graph[f"{PACKAGE}.oauth"] <= {
        f"{PACKAGE}.const",
        f"{PACKAGE}.connectors.base",
    }
