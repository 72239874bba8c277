# SPDX-License-Identifier: MIT
"""No import cycle between the modules of ``synaptune/`` (read from the source with ``ast``, nothing imported).

The rule: module A depends on module B when A's source holds ``import B`` or
``from B import x`` (or ``from P import B`` for a submodule B of package P;
relative imports are resolved) that runs when A is imported:

* counted: imports at module level, also inside a module-level ``if``/``try``/
  ``with`` block or a class body (they all run at import time);
* not counted: imports under ``if TYPE_CHECKING:`` (never run), and imports
  inside a function or method body (run when called, not when imported);
* a dependency is on a module of ``synaptune`` only, and on the module named:
  importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, but those
  implicit edges are not counted (every package importing its own submodules
  would otherwise be a cycle); an explicit ``from synaptune.benchmarks import X``
  is an edge to the package ``synaptune.benchmarks``.

``test_no_import_cycle`` holds that graph free of cycles. A cycle among deferred
imports (function bodies) does not break an import, but says that two modules
each depend on the other; ``test_no_cycle_through_deferred_imports`` holds those
to the same rule, except the ones listed (with why) in :data:`DEFERRED_ALLOWED`.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import synaptune

ROOT = Path(synaptune.__file__).parent

#: Cycles that exist only through a function-body import, each with its reason.
DEFERRED_ALLOWED: set[frozenset[str]] = set()


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, *, deferred: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module that the rule counts (``deferred``: function bodies too)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not deferred:
                continue
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                walk(list(node.orelse))
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            walk(list(ast.iter_child_nodes(node)))

    walk(list(tree.body))
    return found


def import_graph(root: Path, *, deferred: bool = False) -> dict[str, set[str]]:
    """``{module: the modules of the package under root it depends on}``, by the rule above."""
    modules = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}

    def known(name: str) -> str | None:  # the module itself, else its nearest package that is ours
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str | None] = set()
        for node in _imports(ast.parse(path.read_text(), filename=str(path)), deferred=deferred):
            if isinstance(node, ast.Import):
                deps.update(known(alias.name) for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                deps.add(full if full in modules else known(base))
        graph[name] = {d for d in deps if d is not None and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan; the package's graph is shallow enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_a_cycle(graph, c) for c in components]


def _a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    start = min(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")  # a component always has one


def _shown(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in found)


def test_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 50 and "synaptune.hpo.trial" in graph["synaptune.hpo.progress"]  # the walk saw the package
    found = cycles(graph)
    assert found == [], f"import cycles (module-level imports, TYPE_CHECKING excluded):\n{_shown(found)}"


def test_no_cycle_through_deferred_imports() -> None:
    found = [c for c in cycles(import_graph(ROOT, deferred=True)) if frozenset(c) not in DEFERRED_ALLOWED]
    assert found == [], ("import cycles through imports inside functions; move the shared piece to the module "
                         f"both can import, or list the cycle in DEFERRED_ALLOWED with why:\n{_shown(found)}")


def test_progress_and_sweep_do_not_import_each_other() -> None:
    graph = import_graph(ROOT, deferred=True)
    assert "synaptune.hpo.sweep" not in graph["synaptune.hpo.progress"]
    assert "synaptune.hpo.progress" in graph["synaptune.hpo.sweep"]  # the driver shows the progress lines


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_rule_on_a_small_package(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "a.py": "from pkg import b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import X\n"
                "def f():\n    import pkg.a\n",
        "c.py": "try:\n    from . import d\nexcept ImportError:\n    pass\n",
        "d.py": "class K:\n    from pkg.sub.e import Y\n",
        "sub/__init__.py": "",
        "sub/e.py": "from ..c import Z\nimport os\n",
    })
    assert import_graph(root) == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": set(), "pkg.c": {"pkg.d"},
                                  "pkg.d": {"pkg.sub.e"}, "pkg.sub": set(), "pkg.sub.e": {"pkg.c"}}
    assert cycles(import_graph(root)) == [["pkg.c", "pkg.d", "pkg.sub.e", "pkg.c"]]
    # b -> a only through a function body: a cycle when deferred imports count, not otherwise.
    assert cycles(import_graph(root, deferred=True)) == [["pkg.a", "pkg.b", "pkg.a"],
                                                         ["pkg.c", "pkg.d", "pkg.sub.e", "pkg.c"]]
