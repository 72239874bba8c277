# SPDX-License-Identifier: MIT
"""Joint training on every task seen so far: the upper bound of a stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch

from synaptune.learners.gradient import Batch
from synaptune.learners.naive import NaiveLearner
from synaptune.learners.hparams import JointParams

if TYPE_CHECKING:
    from torch import Tensor

    from synaptune.benchmarks.base import Split, Task


def _by_id(task: Task, seen: tuple[Task, ...]) -> list[Task]:
    """The seen tasks and ``task``, in order; a repeated task id counts once."""
    return list({t.id: t for t in (*seen, task)}.values())


class JointLearner(NaiveLearner):
    r"""Trains on the union of all tasks seen so far: not continual, an upper bound.

    At task :math:`t` the network continues from its current weights and makes
    ``epochs`` passes over :math:`D_1 \cup \dots \cup D_t`, shuffled jointly, so
    mini-batches mix the tasks:

    .. math::

        \theta \leftarrow \theta - \eta \, \nabla_\theta
        \frac{1}{|B|} \sum_{(x, y) \in B \subset D_1 \cup \dots \cup D_t}
        -\log \operatorname{softmax}(f_\theta(x))_y

    In task-il each sample keeps its own task's class mask (or head). The seen
    tasks' splits are copied into one tensor once per task, which suits the
    small and medium streams an upper bound is computed on. Reference: the
    "joint" / offline upper bound of van de Ven & Tolias, "Three scenarios for
    continual learning" (2019).

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = JointLearner(JointParams(lr=0.05), input_shape=stream.input_shape,
                               n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for t, task in enumerate(stream.tasks):
            learner.fit_task(task, seen=stream.tasks[:t])
        labels = learner.predict(stream.tasks[0].tensors("test")[0])  # int64 (B,)

    State:
        net.*, net.task_classes, rng_state: as in :class:`NaiveLearner`.
    """

    params_cls = JointParams
    trains_on_seen_tasks = True

    def remember(self, task: Task, seen: tuple[Task, ...]) -> None:
        for t in _by_id(task, seen):
            self.net.remember(t.id, t.classes)

    def epoch_batches(self, task: Task, split: Split, seen: tuple[Task, ...]) -> Callable[[], Iterator[Batch]]:
        xs, ys, ids = [], [], []
        for t in _by_id(task, seen):
            x, y = t.tensors(split)
            xs.append(x.to(self.device))
            ys.append(y.to(self.device))
            ids.append(torch.full((y.shape[0],), t.id, dtype=torch.long, device=self.device))
        x_all, y_all, id_all = torch.cat(xs), torch.cat(ys), torch.cat(ids)
        return lambda: self._joint_batches(x_all, y_all, id_all)

    def _joint_batches(self, x: Tensor, y: Tensor, task_ids: Tensor) -> Iterator[Batch]:
        order = torch.randperm(y.shape[0], generator=self.generator).to(self.device)
        task_il = self.scenario == "task-il"
        for start in range(0, order.numel(), self.params.batch_size):
            b = order[start : start + self.params.batch_size]
            yield x[b], y[b], (task_ids[b] if task_il else None)
