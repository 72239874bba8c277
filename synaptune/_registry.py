# SPDX-License-Identifier: MIT
"""A small registry of named objects with lazy ``"module:attr"`` entries."""

from __future__ import annotations

import difflib
import importlib
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
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, target: Any, *, override: bool = False) -> None:
        if name in self._entries and not override:
            raise ConfigError(f"{self.kind} `{name}` is already registered; pass override=True.")
        self._entries[name] = target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} `{name}`.{did_you_mean(name, self.names())} "
                f"Known {self.kind}s: {', '.join(self.names())}."
            )
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = target
        return target  # type: ignore[no-any-return]
