# SPDX-License-Identifier: MIT
"""Pareto fronts and ``--objective`` parsing."""

from __future__ import annotations

import pytest

from synaptune.exceptions import ConfigError
from synaptune.hpo.pareto import parse_objectives


def test_parse_objectives_defaults_and_errors() -> None:
    assert parse_objectives(["val/acc", "state_bytes:min", "train_seconds:max"]) == (
        ("val/acc", "max"), ("state_bytes", "min"), ("train_seconds", "max"))
    with pytest.raises(ConfigError, match="unknown metric 'val/ac'"):
        parse_objectives(["val/ac"])
    with pytest.raises(ConfigError, match="each metric at most once"):
        parse_objectives(["val/acc", "val/acc:min"])


def test_front_keeps_exactly_the_non_dominated_runs() -> None:
    from synaptune.hpo.store import TrialRecord, TrialStatus, dominates, pareto_front

    runs = [TrialRecord(f"r{i}", f"t{i}", f"x-{i}", TrialStatus.COMPLETED, None, "x", "naive", {}, {},
                        {"val/acc": acc, "state_bytes": b}, 2, 2, start_time_ms=i)
            for i, (acc, b) in enumerate([(0.9, 300), (0.8, 100), (0.85, 300), (0.7, 100), (0.95, 900)])]
    pruned = TrialRecord("r9", "t9", "x-9", TrialStatus.PRUNED, None, "x", "naive", {}, {},
                         {"val/acc": 0.99, "state_bytes": 1}, 1, 2)
    nan = TrialRecord("r8", "t8", "x-8", TrialStatus.COMPLETED, None, "x", "naive", {}, {},
                      {"val/acc": float("nan"), "state_bytes": 1}, 2, 2)
    objectives = (("val/acc", "max"), ("state_bytes", "min"))
    front = pareto_front([*runs, pruned, nan], objectives)
    assert [r.trial_id for r in front] == ["t4", "t0", "t1"]  # best val/acc first; pruned and NaN never on it
    assert dominates([0.9, 300], [0.85, 300], ["max", "min"])
    assert not dominates([0.9, 300], [0.9, 300], ["max", "min"])
    assert not dominates([0.95, 900], [0.8, 100], ["max", "min"])
