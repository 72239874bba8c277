# SPDX-License-Identifier: MIT
"""Pareto fronts and ``--objective`` parsing."""

from __future__ import annotations

import pytest

from synaptune.exceptions import ConfigError
from synaptune.hpo.pareto import dominates, pareto_front, parse_objectives


def test_parse_objectives_defaults_and_errors() -> None:
    assert parse_objectives(["val/acc", "state_bytes:min", "train_seconds:max"]) == (
        ("val/acc", "max"), ("state_bytes", "min"), ("train_seconds", "max"))
    with pytest.raises(ConfigError, match="unknown metric 'val/ac'"):
        parse_objectives(["val/ac"])
    with pytest.raises(ConfigError, match="each metric at most once"):
        parse_objectives(["val/acc", "val/acc:min"])


def test_front_keeps_exactly_the_non_dominated_runs() -> None:
    runs = [{"id": i, "metrics": {"val/acc": acc, "state_bytes": b}}
            for i, (acc, b) in enumerate([(0.9, 300), (0.8, 100), (0.85, 300), (0.7, 100), (0.95, 900)])]
    objectives = (("val/acc", "max"), ("state_bytes", "min"))
    front = pareto_front(runs, objectives)
    assert [r["id"] for r in front] == [4, 0, 1]  # best val/acc first
    assert dominates([0.9, 300], [0.85, 300], ["max", "min"])
    assert not dominates([0.9, 300], [0.9, 300], ["max", "min"])
    assert not dominates([0.95, 900], [0.8, 100], ["max", "min"])
