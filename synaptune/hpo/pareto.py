# SPDX-License-Identifier: MIT
"""The objectives of multi-objective sweeps (``--objective`` given twice or more).

The Pareto front itself is computed by :func:`synaptune.hpo.store.pareto_front`.
"""

from __future__ import annotations

from collections.abc import Sequence

from synaptune.exceptions import ConfigError
from synaptune.hpo.store import metric_direction

#: Final metrics of a trial that may be objectives.
OBJECTIVE_METRICS = ("objective", "val/acc", "state_bytes", "train_seconds")
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
        out.append((metric, mode or metric_direction(metric)))
    if len({m for m, _ in out}) != len(out):
        raise ConfigError(f"--objective: each metric at most once, got {list(items)}.")
    return tuple(out)


def format_objectives(objectives: Sequence[tuple[str, str]]) -> str:
    return ",".join(f"{m}:{mode}" for m, mode in objectives)
