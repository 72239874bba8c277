# SPDX-License-Identifier: MIT
"""Metrics on hand-made accuracy matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synaptune.benchmarks.metrics import (
    accuracy_seen,
    average_accuracy,
    backward_transfer,
    forgetting,
    forgetting_per_task,
    summarize,
)

NAN = float("nan")


def test_two_tasks_with_nan_upper_triangle() -> None:
    R = [[0.9, NAN], [0.6, 0.8]]
    assert average_accuracy(R) == pytest.approx(0.7)
    assert backward_transfer(R) == pytest.approx(-0.3)
    assert forgetting(R) == pytest.approx(0.3)
    assert forgetting_per_task(R) == pytest.approx([0.3])


def test_ragged_rows_equal_square_array() -> None:
    ragged = [[0.9], [0.6, 0.8], [0.5, 0.7, 0.95]]
    square = np.array([[0.9, 0.1, 0.1], [0.6, 0.8, 0.2], [0.5, 0.7, 0.95]])  # upper entries ignored
    for f in (average_accuracy, backward_transfer, forgetting):
        assert f(ragged) == pytest.approx(f(square))


def test_three_tasks_by_hand() -> None:
    R = [[0.9], [0.6, 0.8], [0.7, 0.5, 0.95]]
    assert average_accuracy(R) == pytest.approx((0.7 + 0.5 + 0.95) / 3)
    # BWT: ((0.7 - 0.9) + (0.5 - 0.8)) / 2
    assert backward_transfer(R) == pytest.approx(-0.25)
    # task 0 peaked at 0.9 (i=0), task 1 at 0.8 (i=1)
    assert forgetting_per_task(R) == pytest.approx([0.2, 0.3])
    assert forgetting(R) == pytest.approx(0.25)


def test_forgetting_uses_max_over_earlier_rows_not_diagonal() -> None:
    R = [[0.5], [0.9, 0.8], [0.6, 0.8, 0.9]]  # task 0 improved after task 1, then dropped
    assert forgetting_per_task(R) == pytest.approx([0.3, 0.0])
    assert backward_transfer(R) == pytest.approx(((0.6 - 0.5) + 0.0) / 2)


def test_single_task() -> None:
    R = [[0.75]]
    assert average_accuracy(R) == pytest.approx(0.75)
    assert backward_transfer(R) == 0.0
    assert forgetting(R) == 0.0
    assert forgetting_per_task(R) == []


def test_partially_filled_square_uses_filled_rows_only() -> None:
    R = [[0.9, NAN, NAN], [0.6, 0.8, NAN]]  # 2 of 3 tasks trained
    assert average_accuracy(R) == pytest.approx(0.7)
    assert backward_transfer(R) == pytest.approx(-0.3)


def test_accuracy_seen() -> None:
    row = [0.6, 0.8, NAN]
    assert accuracy_seen(row, 0) == pytest.approx(0.6)
    assert accuracy_seen(row, 1) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="outside"):
        accuracy_seen(row, 3)


def test_summarize_names() -> None:
    out = summarize([[0.9, NAN], [0.6, 0.8]], "val")
    assert out == pytest.approx({"val/acc": 0.7, "val/bwt": -0.3, "val/forgetting": 0.3, "val/acc_seen": 0.7,
                                 "val/acc_task_0": 0.6, "val/acc_task_1": 0.8})


def test_bad_matrices() -> None:
    with pytest.raises(ValueError, match="empty"):
        average_accuracy([])
    with pytest.raises(ValueError, match="row 1"):
        average_accuracy([[0.9], []])


def test_nan_in_lower_triangle_propagates() -> None:
    assert math.isnan(average_accuracy([[0.9], [NAN, 0.8]]))


def test_summarize_runs_gives_the_mean_and_population_std_over_runs() -> None:
    from synaptune.benchmarks.metrics import summarize_runs

    a = [[0.9, float("nan")], [0.5, 0.8]]  # acc 0.65, bwt -0.4, forgetting 0.4
    b = [[0.7, float("nan")], [0.7, 0.6]]  # acc 0.65, bwt 0.0, forgetting 0.0
    out = summarize_runs([a, b], "test")
    assert out["test/acc"] == pytest.approx(0.65) and out["test/acc_std"] == pytest.approx(0.0)
    assert out["test/bwt"] == pytest.approx(-0.2) and out["test/bwt_std"] == pytest.approx(0.2)
    assert out["test/forgetting"] == pytest.approx(0.2) and out["test/forgetting_std"] == pytest.approx(0.2)
    assert set(out) == {f"test/{m}{s}" for m in ("acc", "bwt", "forgetting") for s in ("", "_std")}
