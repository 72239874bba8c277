# SPDX-License-Identifier: MIT
"""Continual streams: a :class:`Stream` is an ordered list of :class:`Task`.

Every task of a stream shares one :class:`Pool` of tensors (the whole dataset,
loaded once per process). A task holds only *indices* into the pool and, for
permuted streams, one pixel permutation applied batch by batch on the device,
so no image is ever copied per task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Scenario = Literal["class-il", "task-il", "domain-il"]
SCENARIOS: tuple[str, ...] = ("class-il", "task-il", "domain-il")
Split = Literal["train", "val", "test", "trainval"]
SPLITS: tuple[str, ...] = ("train", "val", "test", "trainval")


@dataclass(frozen=True)
class Pool:
    """A dataset's tensors, shared by all tasks of a stream.

    Attributes:
        train_x: float32, shape (N_train, *input_shape), values in [0, 1].
        train_y: int64, shape (N_train,), class labels 0..n_classes-1.
        test_x: float32, shape (N_test, *input_shape).
        test_y: int64, shape (N_test,).
    """

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

    def to(self, device: torch.device | str) -> Pool:
        return Pool(*(t.to(device) for t in dataclasses.astuple(self)))


@dataclass(frozen=True)
class Task:
    """One task of a stream: index views into a shared :class:`Pool`.

    Attributes:
        id: position in the stream, 0-based.
        classes: the labels that occur in this task (as they appear in ``y``).
        pool: the shared dataset tensors.
        train_idx, val_idx, test_idx: int64 indices into ``pool`` (val is
            carved from the pool's train part, test from its test part).
        permutation: int64, shape (prod(input_shape),), or ``None``: pixels of
            every input of this task are reordered by it, on the fly.
    """

    id: int
    classes: tuple[int, ...]
    pool: Pool
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    permutation: Tensor | None = None

    def indices(self, split: Split) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_source, y_source, idx)`` of a split."""
        if split == "train":
            return self.pool.train_x, self.pool.train_y, self.train_idx
        if split == "val":
            return self.pool.train_x, self.pool.train_y, self.val_idx
        if split == "test":
            return self.pool.test_x, self.pool.test_y, self.test_idx
        if split == "trainval":
            return self.pool.train_x, self.pool.train_y, torch.cat([self.train_idx, self.val_idx])
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    def size(self, split: Split) -> int:
        return int(self.indices(split)[2].numel())

    def _transform(self, x: Tensor) -> Tensor:
        if self.permutation is None:
            return x
        flat = x.reshape(x.shape[0], -1)[:, self.permutation]
        return flat.reshape(x.shape)

    def batches(
        self,
        split: Split,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(x, y)`` batches of a split, permutation applied per batch.

        ``x``: float32 (B, *input_shape) on the pool's device; ``y``: int64 (B,).
        With ``shuffle``, the order is drawn from ``generator`` (a CPU generator).
        """
        xs, ys, idx = self.indices(split)
        if shuffle:
            order = torch.randperm(idx.numel(), generator=generator).to(idx.device)
            idx = idx[order]
        for start in range(0, idx.numel(), batch_size):
            b = idx[start : start + batch_size]
            yield self._transform(xs[b]), ys[b]

    def tensors(self, split: Split) -> tuple[Tensor, Tensor]:
        """The whole split as ``(x, y)`` (a copy: use for small splits only)."""
        xs, ys, idx = self.indices(split)
        return self._transform(xs[idx]), ys[idx]

    def to(self, device: torch.device | str, pool: Pool | None = None) -> Task:
        perm = None if self.permutation is None else self.permutation.to(device)
        return dataclasses.replace(
            self,
            pool=pool if pool is not None else self.pool.to(device),
            train_idx=self.train_idx.to(device),
            val_idx=self.val_idx.to(device),
            test_idx=self.test_idx.to(device),
            permutation=perm,
        )


@dataclass(frozen=True)
class Stream:
    """An ordered list of tasks plus what a learner needs to be built.

    Attributes:
        name: benchmark name, e.g. ``split-digits``.
        tasks: the tasks, in training order.
        scenario: ``class-il`` (one head over all classes, no task id at test),
            ``task-il`` (the task id is given at test time) or ``domain-il``
            (same labels in every task, no task id).
        input_shape: shape of one input, e.g. (1, 8, 8).
        n_classes: number of distinct labels over the stream.
    """

    name: str
    tasks: tuple[Task, ...]
    scenario: Scenario
    input_shape: tuple[int, ...]
    n_classes: int

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def head(self, n: int) -> Stream:
        """The first ``n`` tasks (class count and shapes unchanged, so a configuration transfers)."""
        if not 1 <= n <= self.n_tasks:
            raise ValueError(f"head({n}) of a stream of {self.n_tasks} tasks")
        return dataclasses.replace(self, name=f"{self.name}[:{n}]", tasks=self.tasks[:n])

    def tail(self, start: int) -> Stream:
        """Tasks ``start`` to the end, renumbered from 0 (a stream of their own)."""
        if not 0 <= start < self.n_tasks:
            raise ValueError(f"tail({start}) of a stream of {self.n_tasks} tasks")
        tasks = tuple(dataclasses.replace(t, id=i) for i, t in enumerate(self.tasks[start:]))
        return dataclasses.replace(self, name=f"{self.name}[{start}:]", tasks=tasks)

    def to(self, device: torch.device | str) -> Stream:
        """The same stream with every tensor on ``device`` (the pool moved once)."""
        pool = self.tasks[0].pool.to(device)
        return dataclasses.replace(self, tasks=tuple(t.to(device, pool) for t in self.tasks))
