# SPDX-License-Identifier: MIT
"""The ``satsom`` learner: a Saturation Self-Organizing Map walked through a continual stream.

:class:`SatSOMLearner` drives the map :class:`~synaptune.learners.modules.satsom.SatSOM`
(a ``torch.nn.Module`` in :mod:`synaptune.learners.modules.satsom`, built on the
kernels of :mod:`synaptune.learners.functional.som`) through the tasks of a
stream, one update per training sample. Both are configured by
:class:`SatSOMParams`. The algorithm, its knobs and its two modes are described
in docs/learners.md#satsom.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synaptune.learners.base import Learner
from synaptune.learners.functional.task_classes import (
    mark_task_classes,
    restrict_to_task,
    task_classes_table,
)
from synaptune.learners.hparams import SatSOMParams, parse_grid
from synaptune.learners.modules.satsom import UNDERSATURATED, SatSOM

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

__all__ = ["SatSOMLearner", "SatSOMParams", "parse_grid"]

#: Inputs per chunk when the learner walks a task sample by sample.
_FIT_CHUNK = 4096


class SatSOMLearner(Learner):
    r"""A saturating self-organising map whose units freeze as they learn, labelled by the classes they see.

    SatSOM as a continual learner: one :meth:`~synaptune.learners.modules.satsom.SatSOM.step`
    per training sample.

    Each task is walked ``epochs`` times in an order shuffled by the learner's
    generator, one step per sample, in ``train()`` mode (the ``Lr_bias`` boost
    on). Labels live on the neurons, so the map is class-incremental by nature:
    a new class colonises unsaturated neurons while saturated ones keep theirs.
    In the task-il scenario ``predict`` restricts the argmax to the given task's
    classes; nothing else depends on the scenario. The map sees flattened
    pixels, or with ``features="random-projection"`` a fixed Gaussian
    projection :math:`x R / \sqrt{k}` to ``feature_dim`` = k dims, drawn once from
    the seed and never trained. The update rule, the read-out and the two
    ``mode`` values are documented on
    :class:`~synaptune.learners.modules.satsom.SatSOM`.

    Reference: "Saturation Self-Organizing Map", arXiv:2506.10680.

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = SatSOMLearner(SatSOMParams(grid="20x20"), input_shape=stream.input_shape,
                                n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)
        labels = learner.predict(stream.tasks[0].tensors("test")[0])  # int64 (B,)

    State:
        som.*: the :class:`~synaptune.learners.modules.satsom.SatSOM` buffers (weights, labels,
            learning_rates, sigmas, locations).
        projection: (prod(input_shape), feature_dim), only with features=random-projection.
        task_classes: bool (n_tasks, n_classes); row t marks the classes of task t
            (:mod:`synaptune.learners.functional.task_classes`).
        rng_state: the shuffling generator's state (:class:`~synaptune.learners.base.Learner`).
    """

    params_cls = SatSOMParams
    params: SatSOMParams
    som: SatSOM
    projection: Tensor | None
    task_classes: Tensor
    rng_state: Tensor

    def __init__(self, params: Any, **kwargs: Any) -> None:
        """Arguments as :class:`~synaptune.learners.base.Learner`."""
        super().__init__(params, **kwargs)
        in_dim = math.prod(self.input_shape)
        if params.features == "random-projection":
            k = params.feature_dim
            proj = torch.randn(in_dim, k, generator=self.generator) / math.sqrt(k)
            self.register_buffer("projection", proj)
            in_dim = k
        else:
            self.register_buffer("projection", None)
        self.som = SatSOM(params, input_dim=in_dim, output_dim=self.n_classes, generator=self.generator)
        self.register_buffer("task_classes", task_classes_table(self.n_tasks, self.n_classes))
        self.to(self.device)

    def features(self, x: Tensor) -> Tensor:
        """The map's input for a batch ``x`` (B, *input_shape): (B, D), frozen."""
        flat = x.to(self.device).reshape(x.shape[0], -1).to(self.som.weights.dtype)
        return flat if self.projection is None else flat @ self.projection

    @torch.no_grad()
    def fit_task(
        self, task: Task, *, split: Split = "train", seen: tuple[Task, ...] = ()
    ) -> dict[str, float]:
        mark_task_classes(self.task_classes, task.id, task.classes)
        self.som.train()  # the Lr_bias boost belongs to training, whatever mode the caller left
        steps = 0
        for _ in range(self.params.epochs):
            for x, y in task.batches(split, _FIT_CHUNK, shuffle=True, generator=self.generator):
                f = self.features(x)
                onehot = F.one_hot(y.to(self.device), self.n_classes).to(f.dtype)
                for i in range(f.shape[0]):
                    self.som.step(f[i], onehot[i])
                steps += f.shape[0]
        saturation = self.som.saturation()
        return {"train/steps": float(steps),
                "train/trained_fraction": float((saturation >= UNDERSATURATED).float().mean()),
                "train/mean_saturation": float(saturation.mean())}

    @torch.no_grad()
    def predict(self, x: Tensor, *, task_id: int | None = None) -> Tensor:
        self.check_task_id(task_id)
        scores: Tensor = self.som(self.features(x))
        if task_id is not None:
            scores = restrict_to_task(scores, self.task_classes, task_id)
        return scores.argmax(dim=1)

    @torch.no_grad()
    def prototype_images(self) -> Tensor | None:
        """The map's prototypes as images (N, C, H, W) scaled to [0, 1] together, lattice order.

        ``None`` with ``features=random-projection`` (prototypes are not images)
        or for inputs that are not images (C, H, W).
        """
        if self.projection is not None or len(self.input_shape) != 3:
            return None
        w = self.som.weights.reshape(self.som.n_neurons, *self.input_shape).float()
        lo, hi = w.min(), w.max()
        return (w - lo) / (hi - lo).clamp_min(1e-12)
