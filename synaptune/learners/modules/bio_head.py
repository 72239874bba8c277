# SPDX-License-Identifier: MIT
"""The classifier head of the ``hebbian`` learner, trained with labels on Hebbian features.

:class:`BioHead` is BioPyTorch's classifier (BatchNorm without affine, dropout,
linear), shared by all tasks or one per task, masked to a task's classes in
task-il. The Hebbian layers it reads are in :mod:`synaptune.learners.modules.bio`.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from synaptune.learners.functional.task_classes import mark_task_classes, restrict_to_task, task_classes_table

__all__ = ["BioHead"]


class BioHead(nn.Module):
    """BatchNorm (no affine) -> Flatten -> Dropout -> Linear, shared or one per task.

    The classifier BioPyTorch attaches after its Hebbian layers (their outputs are
    not centred, hence the BatchNorm); the ``hebbian`` learner trains it with
    labels on the frozen Hebbian features.

    With one head per task each head has its own BatchNorm too: a shared one would
    keep the statistics of the last task's features and shift the earlier heads'
    inputs. Masks logits to the task's classes when a task id is given, as
    :class:`~synaptune.learners.networks.Classifier` does.

    State:
        norms.*: BatchNorm running statistics, one per head.
        task_classes: bool (n_tasks, n_classes); row t marks the classes of task t
            (:mod:`synaptune.learners.functional.task_classes`).
    """

    def __init__(self, feature_shape: tuple[int, ...], *, n_classes: int, n_tasks: int, dropout: float,
                 multi_head: bool) -> None:
        super().__init__()
        # Images keep one statistic per channel (as upstream); flat features one per feature.
        self.per_channel = len(feature_shape) == 3
        width = math.prod(feature_shape)
        n_heads = n_tasks if multi_head else 1

        def norm() -> nn.Module:
            if self.per_channel:
                return nn.BatchNorm2d(feature_shape[0], affine=False)
            return nn.BatchNorm1d(width, affine=False)

        self.norms = nn.ModuleList(norm() for _ in range(n_heads))
        self.dropout = nn.Dropout(dropout)
        self.multi_head = multi_head
        self.heads = nn.ModuleList(nn.Linear(width, n_classes) for _ in range(n_heads))
        self.register_buffer("task_classes", task_classes_table(n_tasks, n_classes))

    def remember(self, task_id: int, classes: tuple[int, ...]) -> None:
        """Record that task ``task_id`` uses labels ``classes``."""
        mark_task_classes(self.task_classes, task_id, classes)

    def forward(self, f: Tensor, task_id: int | None) -> Tensor:
        """Logits (B, n_classes) of features ``f`` (B, *feature_shape); ``task_id`` only in task-il."""
        if self.multi_head and task_id is None:
            raise ValueError("a multi-head classifier needs the task id (task-il scenario)")
        h = task_id if self.multi_head else 0
        f = self.norms[h](f).flatten(1) if self.per_channel else self.norms[h](f.flatten(1))
        out = self.heads[h](self.dropout(f))
        if task_id is None:
            return out
        return restrict_to_task(out, self.task_classes, task_id)
