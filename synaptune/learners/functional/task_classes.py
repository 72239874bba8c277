# SPDX-License-Identifier: MIT
"""Which classes belong to which task: the bookkeeping behind the task-il scenario.

A learner that answers in task-il keeps a bool buffer ``task_classes``
(n_tasks, n_classes), row t marking task t's classes: made by
:func:`task_classes_table`, filled as each task starts by
:func:`mark_task_classes`, and read by :func:`restrict_to_task` to mask scores
to the asked task's classes. A buffer of its owner (``net.task_classes``,
``head.task_classes`` or ``task_classes``), so it is in every checkpoint under
that name and prediction works after a resume. Every built-in learner uses
these three functions.

Example::

    self.register_buffer("task_classes", task_classes_table(n_tasks=5, n_classes=10))
    mark_task_classes(self.task_classes, 1, (2, 3))           # task 1 uses labels 2 and 3
    scores = restrict_to_task(logits, self.task_classes, 1)   # (B, 10), -inf outside {2, 3}
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["mark_task_classes", "restrict_to_task", "task_classes_table"]


def task_classes_table(n_tasks: int, n_classes: int) -> Tensor:
    """An empty table: bool zeros (n_tasks, n_classes), no task has a class yet."""
    return torch.zeros(n_tasks, n_classes, dtype=torch.bool)


@torch.no_grad()
def mark_task_classes(task_classes: Tensor, task_id: int, classes: Iterable[int]) -> None:
    """Record in place that task ``task_id`` uses labels ``classes`` (earlier marks stay).

    ``task_classes`` is the bool (n_tasks, n_classes) table, on any device.
    """
    idx = torch.as_tensor(list(classes), dtype=torch.long, device=task_classes.device)
    task_classes[task_id, idx] = True


def restrict_to_task(scores: Tensor, task_classes: Tensor, task_id: int | Tensor) -> Tensor:
    """``scores`` (B, n_classes) with the classes outside task ``task_id`` set to ``-inf``.

    ``task_classes`` is bool (n_tasks, n_classes), row t marking task t's classes;
    ``task_id`` an int or an int64 (B,) tensor (one task per sample). A task never
    trained on has an empty row: its scores are left unmasked rather than all
    ``-inf`` (decided without a host sync, so this also works under vmap).
    """
    mask = task_classes[task_id]
    mask = mask | ~mask.any(dim=-1, keepdim=True)
    return scores.masked_fill(~mask, float("-inf"))
