# SPDX-License-Identifier: MIT
"""Seed 003's claim on real permuted Fashion-MNIST: does sparse-mlp (default preset) forget less
than the same MLP dense, trained the same way? An experiment with recorded figures, not a test.

Both learners are ``sparse-mlp`` with the default Params; the dense one sets
percent_on_fc = 1 and sparsity_fc = 0 (exactly the dense MLP, see
tests/unit/test_sparse.py). The stream is subsampled (the same N training and
test images in each of the 5 tasks, each task under its own permutation) and
both train E epochs per task instead of the preset's 30. Prints both accuracy
matrices and the ratio sparse ACC / dense ACC (> 1: sparse wins).

Results are in bench/README.md ("Sparse vs dense"). Needs the Debian package
``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist)::

    .venv/bin/python bench/sparse_vs_dense.py                       # 6000 train, 2 epochs, seed 0
    .venv/bin/python bench/sparse_vs_dense.py --train 12000 --epochs 3 --seed 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.benchmarks.metrics import summarize
from synaptune.learners.sparse import SparseMLPLearner, SparseMLPParams
from synaptune.runner import evaluate_row, train_task

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def subsampled_stream(n_train: int, n_test: int, n_tasks: int):  # noqa: ANN201
    stream = build_stream("permuted-fashion-mnist", BenchmarkParams(n_tasks=n_tasks, data_dir=str(FASHION_DIR),
                                                                    val_fraction=0.0))
    g = torch.Generator().manual_seed(0)
    first = stream.tasks[0]  # every task shares the same index tensors; only the permutation differs
    train = first.train_idx[torch.randperm(first.train_idx.numel(), generator=g)[:n_train]]
    test = first.test_idx[torch.randperm(first.test_idx.numel(), generator=g)[:n_test]]
    tasks = tuple(dataclasses.replace(t, train_idx=train, test_idx=test) for t in stream.tasks)
    return dataclasses.replace(stream, tasks=tasks)


def run(params: SparseMLPParams, stream, seed: int) -> dict:  # noqa: ANN001
    learner = SparseMLPLearner(params, input_shape=stream.input_shape, n_classes=stream.n_classes,
                               n_tasks=stream.n_tasks, scenario=stream.scenario, seed=seed)
    matrix = []
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
        matrix.append(evaluate_row(learner, stream, t, split="test"))
    out = {k: v for k, v in summarize(matrix, "test").items() if "acc_task" not in k}
    return {**out, "matrix": [[round(v, 4) for v in row] for row in matrix]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=6000, help="training images per task (default 6000)")
    ap.add_argument("--test", type=int, default=2000, help="test images per task (default 2000)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per task (default 2)")
    ap.add_argument("--tasks", type=int, default=5, help="permuted tasks (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="learner seed (default 0)")
    args = ap.parse_args(argv)
    if not FASHION_DIR.is_dir():
        print(f"{FASHION_DIR} is absent: apt-get install dataset-fashion-mnist", file=sys.stderr)
        return 2
    stream = subsampled_stream(args.train, args.test, args.tasks)
    preset = SparseMLPParams(train_ep=args.epochs, train_ep_inc=args.epochs)
    sparse = run(preset, stream, args.seed)
    dense = run(dataclasses.replace(preset, percent_on_fc=1.0, sparsity_fc=0.0), stream, args.seed)
    print(json.dumps({"sparse": sparse, "dense": dense}, indent=1))
    print(f"ACC sparse {sparse['test/acc']:.3f}, dense {dense['test/acc']:.3f}: "
          f"ratio sparse/dense = {sparse['test/acc'] / dense['test/acc']:.3f} (> 1: sparse wins)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
