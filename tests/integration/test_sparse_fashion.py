# SPDX-License-Identifier: MIT
"""Seed 003's claim on real permuted Fashion-MNIST: sparse-mlp (default preset) forgets less than
the same MLP dense, trained the same way.

Both learners are ``sparse-mlp`` with the default preset; the dense one sets
percent_on_fc = 1 and sparsity_fc = 0 (exactly the dense MLP, see
tests/unit/test_sparse.py). To fit the CI budget the stream is subsampled (the
same 6000 training and 2000 test images in each of the 5 tasks, each task under
its own permutation) and both train 2 epochs per task instead of the preset's 30.

The claim does not hold robustly for the default preset (measured 2026-11-22,
learner seed 0): at this budget sparse beats dense (0.616 vs 0.582; seed 1:
0.614 vs 0.600), but with 12000 training images and 3 epochs per task the dense
MLP wins (0.688 vs 0.625; seed 1: 0.704 vs 0.652): both are under-trained here (plain SGD, lr 0.01), and
the sparse net's lead is not less forgetting (its first task drops to 0.51 in the
longer run). The original's large gap (86.6% vs 65.7%, ALGORITHMS.md §4.6) came
from another configuration (4000 units, percent_on 0.001, boosting, lr 0.1
Nesterov, k-winners only). So the comparison is an expected failure: it records
the figures and does not fail CI when the dense net wins.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.benchmarks.metrics import summarize
from synaptune.learners.sparse import SparseMLPLearner, SparseMLPParams
from synaptune.runner import evaluate_row, train_task

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST, EPOCHS, N_TASKS = 6000, 2000, 2, 5


def subsampled_stream():
    stream = build_stream("permuted-fashion-mnist", BenchmarkParams(n_tasks=N_TASKS, data_dir=str(FASHION_DIR),
                                                                    val_fraction=0.0))
    g = torch.Generator().manual_seed(0)
    first = stream.tasks[0]  # every task shares the same index tensors; only the permutation differs
    train = first.train_idx[torch.randperm(first.train_idx.numel(), generator=g)[:N_TRAIN]]
    test = first.test_idx[torch.randperm(first.test_idx.numel(), generator=g)[:N_TEST]]
    tasks = tuple(dataclasses.replace(t, train_idx=train, test_idx=test) for t in stream.tasks)
    return dataclasses.replace(stream, tasks=tasks)


def run(params: SparseMLPParams, stream) -> dict:
    learner = SparseMLPLearner(params, input_shape=stream.input_shape, n_classes=stream.n_classes,
                               n_tasks=stream.n_tasks, scenario=stream.scenario, seed=0)
    matrix = []
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
        matrix.append(evaluate_row(learner, stream, t, split="test"))
    out = {k: v for k, v in summarize(matrix, "test").items() if "acc_task" not in k}
    return {**out, "matrix": [[round(v, 4) for v in row] for row in matrix]}


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="seed 003's claim does not hold robustly for the default preset "
                                       "(dense wins with more training); see the module docstring")
@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason=f"{FASHION_DIR} is absent; apt-get install dataset-fashion-mnist")
def test_sparse_mlp_default_preset_beats_the_dense_mlp_on_permuted_fashion_mnist() -> None:
    stream = subsampled_stream()
    preset = SparseMLPParams(train_ep=EPOCHS, train_ep_inc=EPOCHS)
    sparse = run(preset, stream)
    dense = run(dataclasses.replace(preset, percent_on_fc=1.0, sparsity_fc=0.0), stream)
    # shown with pytest -s: the figures of the report
    print(json.dumps({"sparse": sparse, "dense": dense}, indent=1))
    assert sparse["test/acc"] > dense["test/acc"], (sparse["test/acc"], dense["test/acc"])
