# SPDX-License-Identifier: MIT
"""Train a learner through a stream, task by task, and fill the accuracy matrix.

No Ray and no MLflow here: the HPO trainable and ``synaptune run`` both call
:func:`train_task` / :func:`evaluate_row`, and push the numbers wherever they go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Stream, Task
    from synaptune.learners.base import Learner

#: Inputs per forward pass when evaluating (memory, not accuracy, depends on it).
EVAL_BATCH = 1024


@torch.no_grad()
def accuracy(learner: Learner, task: Task, split: Split, *, task_il: bool) -> float:
    """Fraction of ``task``'s ``split`` that ``learner`` labels correctly, in [0, 1].

    The task id is passed to ``predict`` only in the task-il scenario.
    """
    n = task.size(split)
    if n == 0:
        return float("nan")
    correct = 0
    for x, y in task.batches(split, EVAL_BATCH):
        pred = learner.predict(x, task_id=task.id if task_il else None)
        correct += int((pred == y).sum())
    return correct / n


def train_task(learner: Learner, stream: Stream, t: int, *, split: Split = "train") -> dict[str, float]:
    """Train ``learner`` on task ``t`` of ``stream`` (with earlier tasks only for joint)."""
    seen = stream.tasks[:t] if learner.trains_on_seen_tasks else ()
    learner.train()
    out = learner.fit_task(stream.tasks[t], split=split, seen=seen)
    learner.eval()
    return out


def evaluate_row(learner: Learner, stream: Stream, t: int, *, split: Split = "val") -> list[float]:
    """Row ``t`` of the accuracy matrix R, after training task ``t``.

    ``row[j]`` is the accuracy on task ``j`` for ``j <= t``; later tasks are not
    measured (NaN), since no metric uses them.
    """
    task_il = stream.scenario == "task-il"
    return [accuracy(learner, task, split, task_il=task_il) if j <= t else float("nan")
            for j, task in enumerate(stream.tasks)]
