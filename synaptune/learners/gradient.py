# SPDX-License-Identifier: MIT
"""Learners trained by gradient descent: the epoch loop and the hooks around it.

:class:`GradientLearner` is the base of naive and its subclasses (ewc, classp,
joint, sommask), sparse and the Hebbian learner (whose head it trains). A
subclass gives the network, the optimiser and, where it differs, a hook:

- :meth:`~GradientLearner.on_task_start`: before the epochs (Hebbian: its unsupervised phase);
- :meth:`~GradientLearner.on_batch_end`: after each optimiser step (sparse: re-zero masked weights);
- :meth:`~GradientLearner.on_epoch_end`: after each pass (sparse: decay the boost strength);
- :meth:`~GradientLearner.on_task_end`: after the task (EWC: consolidate);
- :meth:`~GradientLearner.regularizer`: an extra loss term (EWC: the penalty).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synaptune.learners.base import Learner

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

#: One training batch: inputs (B, ...), labels (B,), and the task id the network sees
#: (an int, an int64 (B,) tensor of per-sample ids, or ``None`` outside task-il).
Batch = tuple[Tensor, Tensor, "int | Tensor | None"]


def fit_epochs(
    loss_of: Callable[..., Tensor],
    batches: Callable[[], Iterable[tuple[Any, ...]]],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    device: torch.device,
    on_batch_end: Callable[[], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """``epochs`` passes over ``batches()``, one optimiser step per batch.

    Args:
        loss_of: ``loss_of(*batch)`` -> the 0-d loss of one batch (moved to ``device``).
        batches: called once per epoch; yields tuples whose second item is the
            labels ``y`` (B,) (it counts the samples): ``(x, y)`` or ``(x, y, task_id)``.
        optimizer: stepped after each batch's backward pass.
        on_batch_end: called after each optimiser step.
        epochs: passes over the data (0 trains nothing).
        device: where the batches go and the loss is summed.
        on_epoch_end: called with the epoch index after each pass.

    Returns:
        ``{"train/loss": mean loss over the last epoch's samples}`` (0 if it had none).
    """
    total = torch.zeros((), device=device)
    count = 0
    for epoch in range(epochs):
        total.zero_()
        count = 0
        for batch in batches():
            batch = tuple(b.to(device) if isinstance(b, Tensor) else b for b in batch)
            loss = loss_of(*batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_batch_end is not None:
                on_batch_end()
            n = batch[1].shape[0]
            total += loss.detach() * n  # summed on the device: no host sync per batch
            count += n
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    return {"train/loss": float(total / max(count, 1))}


class GradientLearner(Learner):
    """A learner trained task by task with ``epochs`` passes of a gradient optimiser.

    :meth:`fit_task` runs, in this order: :meth:`remember` the task's classes,
    reseed the global generator from the learner's own, ``train()`` mode,
    :meth:`on_task_start`, the epochs (cross-entropy of :meth:`logits` plus
    :meth:`regularizer`, one :meth:`make_optimizer` optimiser per task,
    :meth:`on_batch_end` and :meth:`on_epoch_end`), then :meth:`on_task_end`.
    A subclass sets ``self.net`` (a module with ``remember(task_id, classes)`` and
    ``forward(x, task_id)`` -> logits (B, n_classes)) and :meth:`make_optimizer`.
    """

    net: Any

    def fit_task(self, task: Task, *, split: Split = "train", seen: tuple[Task, ...] = ()) -> dict[str, float]:
        self.remember(task, seen)
        # Dropout draws from the global generator: reseed it from ours so a run is
        # reproducible from the learner's own state, whatever ran before in the process.
        self.seed_global_rng()
        self.train()
        metrics = self.on_task_start(task, split)
        batches = self.epoch_batches(task, split, seen)
        metrics.update(fit_epochs(self.loss, batches, self.make_optimizer(), self.epochs_for(task),
                                  device=self.device, on_batch_end=self.on_batch_end,
                                  on_epoch_end=self.on_epoch_end))
        metrics.update(self.on_task_end(task, split))
        return metrics

    # -------------------------------------------------------------- what a subclass gives
    @abstractmethod
    def make_optimizer(self) -> torch.optim.Optimizer:
        """A fresh optimiser over the trained parameters, made at the start of each task."""

    def logits(self, x: Tensor, task_id: int | Tensor | None) -> Tensor:
        """Logits (B, n_classes) of inputs ``x`` already on the device; ``self.net`` here."""
        return self.net(x, task_id)

    def remember(self, task: Task, seen: tuple[Task, ...]) -> None:
        """Record the classes of the task about to be trained (for prediction, also after a resume)."""
        self.net.remember(task.id, task.classes)

    def train_task_id(self, task_id: int) -> int | None:
        """The task id the network sees while training: only in task-il.

        Using it in class-il would turn the learner into the "labels trick".
        """
        return task_id if self.scenario == "task-il" else None

    def epoch_batches(self, task: Task, split: Split, seen: tuple[Task, ...]) -> Callable[[], Iterable[Batch]]:
        """Called once per epoch: the task's shuffled ``(x, y, task_id)`` batches."""
        tid = self.train_task_id(task.id)

        def batches() -> Iterable[Batch]:
            for x, y in task.batches(split, self.params.batch_size, shuffle=True, generator=self.generator):
                yield x, y, tid

        return batches

    def epochs_for(self, task: Task) -> int:
        """Passes over ``task``; ``params.epochs`` here."""
        return int(self.params.epochs)

    def regularizer(self) -> Tensor | None:
        """Extra loss term added to the cross-entropy; ``None`` for plain fine-tuning."""
        return None

    def loss(self, x: Tensor, y: Tensor, task_id: int | Tensor | None) -> Tensor:
        """Cross-entropy of one batch, plus :meth:`regularizer` when there is one."""
        loss = F.cross_entropy(self.logits(x, task_id), y)
        extra = self.regularizer()
        return loss if extra is None else loss + extra

    # ---------------------------------------------------------------------------- hooks
    def on_task_start(self, task: Task, split: Split) -> dict[str, float]:
        """Before the epochs (in train mode, global generator reseeded); returns metrics."""
        return {}

    def on_batch_end(self) -> None:
        """After each optimiser step."""

    def on_epoch_end(self, epoch: int) -> None:
        """After each pass over the task (``epoch`` counts from 0)."""

    def on_task_end(self, task: Task, split: Split) -> dict[str, float]:
        """After the epochs; returns metrics."""
        return {}

    # ------------------------------------------------------------------------ prediction
    def predict(self, x: Tensor, *, task_id: int | None = None) -> Tensor:
        self.check_task_id(task_id)
        self.eval()
        with torch.no_grad():
            return self.logits(x.to(self.device), task_id).argmax(dim=1)
