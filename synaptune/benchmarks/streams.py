# SPDX-License-Identifier: MIT
"""Continual streams built from a dataset :class:`Pool`.

Two families:

- **split** (``split-digits``, ``split-mnist``, ``split-fashion-mnist``,
  ``split-cifar10``, ``split-cifar100``): the classes are cut into disjoint
  groups, one per task.
  Labels stay global (0..9) in ``y``; ``Task.classes`` lists a task's labels.
  Scenarios: ``class-il`` (default) or ``task-il``.
- **permuted** (``permuted-digits``, ``permuted-mnist``,
  ``permuted-fashion-mnist``): every task holds all classes and all images,
  with its own fixed pixel permutation. Task 0 is the original images and
  stores ``permutation=None`` (identity, no cost). Scenarios: ``domain-il``
  (default) or ``task-il``.

Every task of a stream shares the pool; a task is only index tensors (and a
permutation), so no image is copied. Randomness (class order, permutations,
train/val split) comes from ``params.seed`` alone; with seed 0 a split stream
keeps the natural class order ([0, 1], [2, 3], ...).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from synaptune.benchmarks.base import Pool, Stream, Task
from synaptune.benchmarks.datasets import load_pool
from synaptune.benchmarks.params import BenchmarkParams
from synaptune.exceptions import ConfigError

DEFAULT_SPLIT_TASKS = 5
DEFAULT_PERMUTED_TASKS = 10
DEFAULT_CIFAR100_TASKS = 10
SPLIT_SCENARIOS: tuple[str, ...] = ("class-il", "task-il")
PERMUTED_SCENARIOS: tuple[str, ...] = ("domain-il", "task-il")

# distinct streams of randomness drawn from one user seed
_CLASS_ORDER, _VAL_SPLIT, _PERMUTATION = 0, 1, 2


def generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and ``keys`` (independent streams per key)."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def carve_val(idx: Tensor, y: Tensor, val_fraction: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split ``idx`` into disjoint ``(train, val)`` index tensors, stratified by label.

    Args:
        idx: int64 (N,), indices into ``y``.
        y: int64 labels of the whole pool part ``idx`` points into.
        val_fraction: each class gives ``floor(val_fraction * n_c)`` of its
            ``n_c`` items to val, so train never loses a whole class.
        g: CPU generator drawing which items go to val.

    Returns:
        ``(train_idx, val_idx)``, each sorted (better memory locality; batches
        are shuffled at iteration time).
    """
    if val_fraction <= 0.0:
        return idx, idx[:0]
    labels = y[idx]
    train, val = [], []
    for c in torch.unique(labels).tolist():
        members = idx[labels == c]
        members = members[torch.randperm(members.numel(), generator=g)]
        k = int(val_fraction * members.numel())
        val.append(members[:k])
        train.append(members[k:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values


def _scenario(params: BenchmarkParams, allowed: tuple[str, ...], kind: str) -> str:
    scenario = params.scenario or allowed[0]
    if scenario not in allowed:
        raise ConfigError(
            f"scenario `{scenario}` is not available for {kind} streams; use one of: {', '.join(allowed)}."
        )
    return scenario


def split_stream(name: str, dataset: str, params: BenchmarkParams) -> Stream:
    """A class-incremental split of ``dataset`` into tasks of disjoint classes.

    ``n_tasks`` defaults to ``n_classes // classes_per_task`` when only the
    latter is given, else to 5; ``classes_per_task`` defaults to
    ``n_classes // n_tasks``. With seed 0 the classes keep their natural
    order, otherwise their order is a seeded permutation.

    Args:
        name: the stream's name, e.g. ``split-mnist``.
        dataset: a :func:`load_pool` dataset name.
        params: how to cut the stream.

    Returns:
        A stream whose ``n_classes`` is the dataset's label-space size (labels
        stay global), input shape that of the dataset.

    Raises:
        ConfigError: the tasks need more classes than the dataset has, or the
            scenario is not ``class-il`` / ``task-il``.
    """
    scenario = _scenario(params, SPLIT_SCENARIOS, "split")
    pool, input_shape, n_classes = load_pool(dataset, params.data_dir, params.download)
    cpt = params.classes_per_task
    n_tasks = params.n_tasks or (max(n_classes // cpt, 1) if cpt else DEFAULT_SPLIT_TASKS)
    cpt = cpt or max(n_classes // n_tasks, 1)
    if n_tasks * cpt > n_classes:
        raise ConfigError(
            f"{name}: {n_tasks} tasks x {cpt} classes per task need {n_tasks * cpt} classes but the dataset "
            f"has {n_classes}; choose n_tasks and classes_per_task with n_tasks * classes_per_task <= {n_classes}."
        )
    if params.seed == 0:
        order = list(range(n_classes))  # the usual [0, 1], [2, 3], ... split
    else:
        order = torch.randperm(n_classes, generator=generator(params.seed, _CLASS_ORDER)).tolist()
    all_train = torch.arange(pool.train_y.numel())
    all_test = torch.arange(pool.test_y.numel())
    tasks = []
    for t in range(n_tasks):
        classes = tuple(sorted(order[t * cpt : (t + 1) * cpt]))
        wanted = torch.tensor(classes, dtype=pool.train_y.dtype)
        train_idx = all_train[torch.isin(pool.train_y, wanted)]
        test_idx = all_test[torch.isin(pool.test_y, wanted)]
        g = generator(params.seed, _VAL_SPLIT, t)
        train_idx, val_idx = carve_val(train_idx, pool.train_y, params.val_fraction, g)
        tasks.append(Task(id=t, classes=classes, pool=pool, train_idx=train_idx, val_idx=val_idx, test_idx=test_idx))
    return Stream(name=name, tasks=tuple(tasks), scenario=scenario,  # type: ignore[arg-type]
                  input_shape=input_shape, n_classes=n_classes)


def permuted_stream(name: str, dataset: str, params: BenchmarkParams) -> Stream:
    """Tasks that all hold every image of ``dataset``, each under its own pixel permutation.

    Task 0 keeps the original images (``permutation=None``); task ``t >= 1``
    permutes the flattened pixels by ``torch.randperm(prod(input_shape))``
    drawn from ``params.seed`` and ``t``. The train/val split is drawn once
    and its index tensors are shared by every task, like the pool.

    Raises:
        ConfigError: ``classes_per_task`` set to less than all classes, or a
            scenario other than ``domain-il`` / ``task-il``.
    """
    scenario = _scenario(params, PERMUTED_SCENARIOS, "permuted")
    pool, input_shape, n_classes = load_pool(dataset, params.data_dir, params.download)
    if params.classes_per_task not in (0, n_classes):
        raise ConfigError(
            f"{name}: every task of a permuted stream holds all {n_classes} classes; "
            f"leave classes_per_task at 0 (got {params.classes_per_task})."
        )
    n_tasks = params.n_tasks or DEFAULT_PERMUTED_TASKS
    n_pixels = int(np.prod(input_shape))
    train_idx, val_idx = carve_val(
        torch.arange(pool.train_y.numel()), pool.train_y, params.val_fraction, generator(params.seed, _VAL_SPLIT)
    )
    test_idx = torch.arange(pool.test_y.numel())
    classes = tuple(range(n_classes))
    tasks = []
    for t in range(n_tasks):
        perm = None if t == 0 else torch.randperm(n_pixels, generator=generator(params.seed, _PERMUTATION, t))
        tasks.append(Task(id=t, classes=classes, pool=pool, train_idx=train_idx, val_idx=val_idx,
                          test_idx=test_idx, permutation=perm))
    return Stream(name=name, tasks=tuple(tasks), scenario=scenario,  # type: ignore[arg-type]
                  input_shape=input_shape, n_classes=n_classes)


def _params(params: BenchmarkParams | None) -> BenchmarkParams:
    return params if params is not None else BenchmarkParams()


def split_digits(params: BenchmarkParams | None = None) -> Stream:
    """Split 8x8 digits (scikit-learn, offline): 5 tasks of 2 classes by default."""
    return split_stream("split-digits", "digits", _params(params))


def permuted_digits(params: BenchmarkParams | None = None) -> Stream:
    """Permuted 8x8 digits (scikit-learn, offline): 10 tasks by default."""
    return permuted_stream("permuted-digits", "digits", _params(params))


def split_mnist(params: BenchmarkParams | None = None) -> Stream:
    """Split MNIST: 5 tasks of 2 digits by default."""
    return split_stream("split-mnist", "mnist", _params(params))


def permuted_mnist(params: BenchmarkParams | None = None) -> Stream:
    """Permuted MNIST: 10 tasks by default."""
    return permuted_stream("permuted-mnist", "mnist", _params(params))


def split_fashion_mnist(params: BenchmarkParams | None = None) -> Stream:
    """Split Fashion-MNIST: 5 tasks of 2 classes by default."""
    return split_stream("split-fashion-mnist", "fashion-mnist", _params(params))


def permuted_fashion_mnist(params: BenchmarkParams | None = None) -> Stream:
    """Permuted Fashion-MNIST: 10 tasks by default."""
    return permuted_stream("permuted-fashion-mnist", "fashion-mnist", _params(params))


def split_cifar10(params: BenchmarkParams | None = None) -> Stream:
    """Split CIFAR-10: 5 tasks of 2 classes by default."""
    return split_stream("split-cifar10", "cifar10", _params(params))


def split_cifar100(params: BenchmarkParams | None = None) -> Stream:
    """Split CIFAR-100 (fine labels): 10 tasks of 10 classes by default, the original's iCIFAR-100."""
    params = _params(params)
    if not params.n_tasks and not params.classes_per_task:
        params = dataclasses.replace(params, n_tasks=DEFAULT_CIFAR100_TASKS)
    return split_stream("split-cifar100", "cifar100", params)
