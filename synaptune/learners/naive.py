# SPDX-License-Identifier: MIT
"""Naive fine-tuning: the lower bound every continual learner must beat."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synaptune.learners.base import Learner
from synaptune.learners.networks import Classifier, NetworkParams, check_multi_head
from synaptune.learners.training import fit_epochs

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task


#: ``(x, y, task_id)``: task_id is ``None``, an int, or an int64 (B,) tensor.
Batch = tuple[Tensor, Tensor, "int | Tensor | None"]


@dataclass(frozen=True, kw_only=True)
class NaiveParams(NetworkParams):
    """Hyperparameters of :class:`NaiveLearner` (the shared network knobs only)."""


class NaiveLearner(Learner):
    r"""Fine-tunes one network on each task in turn, with nothing against forgetting.

    Each task gets a fresh optimiser (SGD with momentum and weight decay, or
    Adam) and ``epochs`` shuffled passes of cross-entropy training:

    .. math::

        \theta \leftarrow \theta - \eta \, \nabla_\theta
        \frac{1}{|B|} \sum_{(x, y) \in B} -\log \operatorname{softmax}(f_\theta(x))_y

    In the task-il scenario the logits are restricted to the current task's
    classes (or its own head, with ``multi_head``). Reference: the fine-tuning
    baseline of van de Ven & Tolias, "Three scenarios for continual learning" (2019).

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = NaiveLearner(NaiveParams(lr=0.05), input_shape=stream.input_shape,
                               n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)
        labels = learner.predict(stream.tasks[0].tensors("test")[0])  # int64 (B,)

    State:
        net.*: the :class:`~synaptune.learners.networks.Classifier` parameters.
        net.task_classes: bool (n_tasks, n_classes), the classes of each task seen.
        rng_state: the shuffling generator's state (:class:`~synaptune.learners.base.Learner`).
    """

    params_cls = NaiveParams

    def __init__(self, params: Any, **kwargs: Any) -> None:
        """Arguments as :class:`~synaptune.learners.base.Learner`."""
        super().__init__(params, **kwargs)
        check_multi_head(params, self.scenario)
        self.net = Classifier(params, input_shape=self.input_shape, n_classes=self.n_classes,
                              n_tasks=self.n_tasks)
        self.to(self.device)

    # ----------------------------------------------------------------- training
    def fit_task(
        self, task: Task, *, split: Split = "train", seen: tuple[Task, ...] = ()
    ) -> dict[str, float]:
        self.net.remember(task.id, task.classes)
        tid = self._train_task_id(task.id)
        metrics = self._train(lambda: self._batches(task, split, tid))
        self.end_task(task, split)
        return metrics

    def _train_task_id(self, task_id: int) -> int | None:
        # The task id is only known to the learner (and so used for masking) in task-il;
        # using it in class-il would turn the naive baseline into the "labels trick".
        return task_id if self.scenario == "task-il" else None

    def _batches(self, task: Task, split: Split, tid: int | None) -> Iterator[Batch]:
        for x, y in task.batches(split, self.params.batch_size, shuffle=True, generator=self.generator):
            yield x, y, tid

    def _make_optimizer(self) -> torch.optim.Optimizer:
        p = self.params
        if p.optimizer == "adam":
            return torch.optim.Adam(self.net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        return torch.optim.SGD(self.net.parameters(), lr=p.lr, momentum=p.momentum,
                               weight_decay=p.weight_decay)

    def regularizer(self) -> Tensor | None:
        """Extra loss term added to the cross-entropy; ``None`` for plain fine-tuning."""
        return None

    def end_task(self, task: Task, split: Split) -> None:
        """Hook run after training on ``task`` (EWC consolidates here)."""

    def _train(self, batches: Callable[[], Iterator[Batch]]) -> dict[str, float]:
        """``epochs`` passes over ``batches()``; returns the last epoch's mean loss."""
        # Dropout draws from the global generator: reseed it from ours so a run is
        # reproducible from the learner's own state, whatever ran before in the process.
        self.seed_global_rng()
        self.train()
        return fit_epochs(self._loss, batches, self._make_optimizer(), self.params.epochs, device=self.device)

    def _loss(self, x: Tensor, y: Tensor, tid: int | Tensor | None) -> Tensor:
        """Cross-entropy of one batch, plus :meth:`regularizer` when there is one."""
        loss = F.cross_entropy(self.net(x, tid), y)
        extra = self.regularizer()
        return loss if extra is None else loss + extra

    # --------------------------------------------------------------- prediction
    def predict(self, x: Tensor, *, task_id: int | None = None) -> Tensor:
        self.check_task_id(task_id)
        self.eval()
        with torch.no_grad():
            return self.net(x.to(self.device), task_id).argmax(dim=1)

