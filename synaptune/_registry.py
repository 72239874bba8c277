# SPDX-License-Identifier: MIT
"""A small registry of named objects with lazy ``"module:attr"`` entries."""

from __future__ import annotations

import difflib
import importlib
import warnings
from typing import Any, Generic, TypeVar

from synaptune.exceptions import ConfigError, UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return ``" Did you mean `x`?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


class Registry(Generic[T]):
    """Maps names to objects; entries may be ``"package.module:attr"`` strings.

    Lazy strings keep ``synaptune list`` from importing torchvision or CUDA code.
    With ``entry_point_group``, other installed packages add entries through that
    entry-point group (``[project.entry-points."<group>"]`` in their
    ``pyproject.toml``: ``name = "package.module:attr"``); they are read on first
    use and never replace a built-in name.
    """

    def __init__(self, kind: str, *, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Any] = {}
        self._plugins_read = entry_point_group is None
        #: Where each entry from another package came from (name -> distribution name).
        self.plugins: dict[str, str] = {}

    def register(self, name: str, target: Any, *, override: bool = False) -> None:
        if name in self._entries and not override:
            raise ConfigError(f"{self.kind} `{name}` is already registered; pass override=True.")
        self._entries[name] = target

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self.plugins.pop(name, None)

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                where = self.plugins.get(ep.name, "synaptune")
                warnings.warn(f"{self.kind} `{ep.name}` of the installed package {ep.dist.name if ep.dist else '?'} "
                              f"is ignored: the name is taken by {where}. Rename its entry point in group "
                              f"{self.entry_point_group!r}.", stacklevel=2)
                continue
            self._entries[ep.name] = ep.value
            self.plugins[ep.name] = ep.dist.name if ep.dist else "?"

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._read_plugins()
        return name in self._entries

    def get(self, name: str) -> T:
        self._read_plugins()
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} `{name}`.{did_you_mean(name, self.names())} "
                f"Known {self.kind}s: {', '.join(self.names())}."
            )
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as e:
                if name not in self.plugins:
                    raise
                raise ConfigError(f"{self.kind} `{name}` of the installed package {self.plugins[name]} does not load "
                                  f"({target!r}: {type(e).__name__}: {e}). Fix or uninstall that package.") from None
            self._entries[name] = target
        return target  # type: ignore[no-any-return]

    def summary(self, name: str) -> str:
        """The first line of the docstring of entry ``name``, read from its module's source while the entry
        is still a ``"module:attr"`` string (so listing learners imports neither torch nor their code)."""
        self._read_plugins()
        target = self._entries.get(name)
        doc = _source_docstring(target) if isinstance(target, str) else None
        if doc is None:
            doc = self.get(name).__doc__ or ""
        lines = doc.strip().splitlines()
        return lines[0] if lines else ""


def _source_docstring(target: str) -> str | None:
    """The docstring of top-level class or function ``attr`` in the source of ``module`` (``"module:attr"``),
    without importing the module; None when the source or the definition is not found."""
    import ast
    import importlib.util

    module_name, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == attr:
            return ast.get_docstring(node) or ""
    return None
