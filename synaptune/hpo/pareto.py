# SPDX-License-Identifier: MIT
"""Pareto fronts of completed trials for multi-objective sweeps (``--objective`` given twice or more)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synaptune.exceptions import ConfigError

#: Final metrics of a trial that may be objectives.
OBJECTIVE_METRICS = ("objective", "val/acc", "state_bytes", "train_seconds")
DEFAULT_MODES = {"objective": "max", "val/acc": "max", "state_bytes": "min", "train_seconds": "min"}
#: The name each objective has in every per-task result (Tune requires the searcher's metrics in all
#: of them); after the last task it equals the final metric.
PER_TASK_NAME = {"objective": "objective_seen", "val/acc": "val/acc_seen", "state_bytes": "state_bytes",
                 "train_seconds": "train_seconds"}


def parse_objectives(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``["val/acc", "state_bytes:min"]`` -> ``(("val/acc", "max"), ("state_bytes", "min"))``."""
    out = []
    for item in items:
        metric, _, mode = item.rpartition(":") if item.endswith((":min", ":max")) else (item, "", "")
        if metric not in OBJECTIVE_METRICS:
            raise ConfigError(f"--objective {item!r}: unknown metric {metric!r}; use one of "
                              f"{', '.join(OBJECTIVE_METRICS)}, optionally with :min or :max.")
        out.append((metric, mode or DEFAULT_MODES[metric]))
    if len({m for m, _ in out}) != len(out):
        raise ConfigError(f"--objective: each metric at most once, got {list(items)}.")
    return tuple(out)


def format_objectives(objectives: Sequence[tuple[str, str]]) -> str:
    return ",".join(f"{m}:{mode}" for m, mode in objectives)


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether point ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for x, y, mode in zip(a, b, modes):
        if mode == "min":
            x, y = -x, -y
        if x < y:
            return False
        better = better or x > y
    return better


def pareto_front(runs: list[dict[str, Any]], objectives: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The runs (``{"metrics": {...}}`` dicts) that no other run dominates, by the first objective."""
    names, modes = [m for m, _ in objectives], [mode for _, mode in objectives]
    usable = [r for r in runs if all(n in r["metrics"] for n in names)]
    points = [[float(r["metrics"][n]) for n in names] for r in usable]
    front = [r for r, p in zip(usable, points) if not any(dominates(q, p, modes) for q in points)]
    first, first_mode = names[0], modes[0]
    return sorted(front, key=lambda r: r["metrics"][first], reverse=first_mode == "max")
