# SPDX-License-Identifier: MIT
"""The note's threshold experiment on real split-fashion-mnist: sparser masks, accuracy kept above chance.

Prints, per threshold, the fraction of active (sample, unit) mask entries on the
test set and test/acc (task-il, mean over the 5 tasks after the last one).
To stay within a few minutes on 2 CPU cores each task trains on its first
2000 training images; the whole test set is used.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.learners.sommask import SOMMaskCNNLearner, SOMMaskCNNParams, SOMMaskMLPLearner, SOMMaskMLPParams
from synaptune.runner import evaluate_row, train_task

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TRAIN_PER_TASK = 2000
THRESHOLDS = (0.0, 0.5, 0.9)


needs_fashion = pytest.mark.skipif(not FASHION_DIR.is_dir(),
                                   reason=f"{FASHION_DIR} is absent; apt-get install dataset-fashion-mnist")


def small_stream():
    """split-fashion-mnist (task-il) with the first TRAIN_PER_TASK training images of each task."""
    full = build_stream("split-fashion-mnist", BenchmarkParams(data_dir=str(FASHION_DIR), scenario="task-il"))
    tasks = tuple(dataclasses.replace(t, train_idx=t.train_idx[:TRAIN_PER_TASK]) for t in full.tasks)
    return dataclasses.replace(full, tasks=tasks)


@pytest.mark.slow
@needs_fashion
def test_csom_threshold_keeps_accuracy_with_few_active_channels() -> None:
    """The note's CSOM experiment: a 16-channel convolution masked by a 4x4 convolutional SOM."""
    stream = small_stream()
    x_test = torch.cat([t.tensors("test")[0] for t in stream.tasks])[::5]
    figures = {}
    for threshold in THRESHOLDS:
        params = SOMMaskCNNParams(conv_mask="patch", masked_layers="first", conv_channels=16, hidden_units=64,
                                  sigma_org=2.0, sigma_org_final=0.5, sigma_fwd=1.5, threshold=threshold,
                                  decay_steps=200, epochs=1, lr=0.05, batch_size=32)
        learner = SOMMaskCNNLearner(params, input_shape=stream.input_shape, n_classes=stream.n_classes,
                                    n_tasks=stream.n_tasks, scenario=stream.scenario, seed=0)
        for t in range(stream.n_tasks):
            train_task(learner, stream, t)
        last = evaluate_row(learner, stream, stream.n_tasks - 1, split="test")  # ACC needs only the last row
        figures[threshold] = {"active_fraction": learner.active_fractions(x_test)[0],
                              "test/acc": float(np.mean(last))}
    print(json.dumps(figures, indent=1))
    active = [figures[t]["active_fraction"] for t in THRESHOLDS]
    assert active[0] > active[1] > active[2] > 0.0
    assert active[2] == pytest.approx(1 / 16)  # threshold 0.9 with sigma_fwd 1.5: the winner channel only
    for t in THRESHOLDS:
        assert 0.8 < figures[t]["test/acc"] <= 1.0, figures  # task-il pairs: chance is 0.5


@pytest.mark.slow
@needs_fashion
def test_threshold_sparsifies_and_keeps_accuracy() -> None:
    """The same on the SOM-masked MLP (SOM+FC), both hidden layers masked."""
    stream = small_stream()
    x_test = torch.cat([t.tensors("test")[0] for t in stream.tasks])
    figures = {}
    for threshold in THRESHOLDS:
        params = SOMMaskMLPParams(hidden_units=100, hidden_layers=2, sigma_org=3.0, sigma_org_final=0.5,
                                  sigma_fwd=3.0, threshold=threshold, decay_steps=200, epochs=2,
                                  lr=0.05, batch_size=32)
        learner = SOMMaskMLPLearner(params, input_shape=stream.input_shape, n_classes=stream.n_classes,
                                    n_tasks=stream.n_tasks, scenario=stream.scenario, seed=0)
        for t in range(stream.n_tasks):
            train_task(learner, stream, t)
        last = evaluate_row(learner, stream, stream.n_tasks - 1, split="test")  # ACC needs only the last row
        figures[threshold] = {"active_fraction": float(np.mean(learner.active_fractions(x_test))),
                              "per_layer": learner.active_fractions(x_test),
                              "test/acc": float(np.mean(last))}
    print(json.dumps(figures, indent=1))  # shown with pytest -s: the figures of the closing note
    active = [figures[t]["active_fraction"] for t in THRESHOLDS]
    assert active[0] > active[1] > active[2] > 0.0
    assert active[2] < 0.2  # threshold 0.9 with sigma_fwd 3: the winner and its 4 neighbours, 5 of 100
    for t in THRESHOLDS:
        assert 0.6 < figures[t]["test/acc"] <= 1.0, figures  # task-il pairs: chance is 0.5
