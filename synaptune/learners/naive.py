# SPDX-License-Identifier: MIT
"""Naive fine-tuning: the lower bound every continual learner must beat."""

from __future__ import annotations

from typing import Any

import torch

from synaptune.learners.gradient import GradientLearner
from synaptune.learners.networks import Classifier, check_multi_head
from synaptune.learners.hparams import NaiveParams


class NaiveLearner(GradientLearner):
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

    def make_optimizer(self) -> torch.optim.Optimizer:
        p = self.params
        if p.optimizer == "adam":
            return torch.optim.Adam(self.net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        return torch.optim.SGD(self.net.parameters(), lr=p.lr, momentum=p.momentum,
                               weight_decay=p.weight_decay)
