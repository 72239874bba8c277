# SPDX-License-Identifier: MIT
"""The package stays readable: no function in ``synaptune/`` reaches 60 lines (issue 15)."""

from __future__ import annotations

import ast
from pathlib import Path

import synaptune

LONGEST = 59  # lines, decorators excluded, docstring included


def _functions(root: Path) -> list[tuple[int, str]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                found.append((lines, f"{path.relative_to(root.parent)}:{node.lineno} {node.name}"))
    return found


def test_no_function_in_the_package_reaches_60_lines() -> None:
    found = _functions(Path(synaptune.__file__).parent)
    assert len(found) > 300  # the walk saw the package
    too_long = sorted((f for f in found if f[0] > LONGEST), reverse=True)
    assert too_long == [], f"split these into named steps: {too_long}"


def test_the_measure_sees_a_long_function(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text("def f():\n" + "    x = 1\n" * 60 + "\ndef g():\n    pass\n")
    assert sorted(_functions(pkg)) == [(2, "pkg/m.py:63 g"), (61, "pkg/m.py:1 f")]
